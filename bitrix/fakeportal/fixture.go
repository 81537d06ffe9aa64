package fakeportal

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Fixture is a portal's seed data, as stored under testdata/.
type Fixture struct {
	Portal  string      `json:"portal"` // host name shown in chat data
	Webhook WebhookSeed `json:"webhook"`
	OAuth   OAuthSeed   `json:"oauth"`
	Scopes  []string    `json:"scopes"`
	Users   []User      `json:"users"`
	Chats   []Chat      `json:"chats"`
	Bots    []Bot       `json:"bots"`
	Large   []LargeChat `json:"generated_chats"`
	// Departments names department ids (for user.search's UF_DEPARTMENT_NAME);
	// New fills it from Structure.
	Departments map[string]string `json:"departments"`
	// Structure is the company structure department.get reads: each
	// department with its parent (0: the root) and its head.
	Structure []Department `json:"structure"`
	// Workgroups are the workgroups and projects (sonet_group.*).
	Workgroups []Workgroup `json:"workgroups"`
}

// Department is one unit of the company structure.
type Department struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Parent int    `json:"parent"` // 0: the root
	Head   int    `json:"head"`   // 0: none
	Sort   int    `json:"sort"`
}

// Workgroup is a workgroup or project. A group that is not Visible is seen
// only by its members; Closed is archived.
type Workgroup struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	Project    bool   `json:"project"`
	Owner      int    `json:"owner"`
	Moderators []int  `json:"moderators"`
	Members    []int  `json:"members"` // besides the owner and moderators
	Visible    bool   `json:"visible"`
	Opened     bool   `json:"opened"`
	Closed     bool   `json:"closed"`
	Extranet   bool   `json:"extranet"`
}

// WebhookSeed is the inbound webhook the portal accepts.
type WebhookSeed struct {
	UserID int    `json:"user_id"`
	Code   string `json:"code"`
}

// OAuthSeed is the one OAuth application installed on the portal.
type OAuthSeed struct {
	AppID        string `json:"app_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	UserID       int    `json:"user_id"`
}

// User is a portal user. Type is user, bot, extranet, email, collaber...;
// ExternalAuthID is "default" for employees, or the external type (bot,
// email, imconnector...) for system users.
type User struct {
	ID             int               `json:"id"`
	Name           string            `json:"name"`
	FirstName      string            `json:"first_name"`
	LastName       string            `json:"last_name"`
	WorkPosition   *string           `json:"work_position"`
	Active         bool              `json:"active"`
	Type           string            `json:"type"`
	ExternalAuthID string            `json:"external_auth_id"`
	Extranet       bool              `json:"extranet"`
	Network        bool              `json:"network"`
	Bot            bool              `json:"bot"`
	Connector      bool              `json:"connector"`
	Gender         string            `json:"gender"`
	Color          string            `json:"color"`
	Avatar         string            `json:"avatar"`
	Email          string            `json:"email"`
	Phones         map[string]string `json:"phones"`
	Departments    []int             `json:"departments"`
	Status         string            `json:"status"`
	LastActivity   string            `json:"last_activity_date"`
	MobileLastDate string            `json:"mobile_last_date"`
	Absent         string            `json:"absent"`
	Birthday       string            `json:"birthday"` // DD-MM, or "" for none
}

// Chat is a group chat. Members are in join order.
type Chat struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Type         string `json:"type"` // chat, open, general, channel...
	Owner        int    `json:"owner"`
	Members      []int  `json:"members"`
	Managers     []int  `json:"managers"`
	Muted        []int  `json:"muted"`
	GroupID      int    `json:"group_id"` // reachable as sgN when set
	EntityType   string `json:"entity_type"`
	EntityID     string `json:"entity_id"`
	Color        string `json:"color"`
	DateCreate   string `json:"date_create"`
	MessageCount int    `json:"message_count"`
	LastMessage  int    `json:"last_message_id"`
	// AddForbidden refuses im.chat.user.add ("It is forbidden to add users to this chat").
	AddForbidden bool `json:"add_forbidden"`
	// ManagersAdd lets only the owner and managers add users.
	ManagersAdd bool `json:"managers_add"`
	Extranet    bool `json:"extranet"`
}

// Bot is a registered chat bot: ClientID is what imbot.chat.user.list wants
// on webhook calls, Token what imbot.v2 wants; AppID ties it to an OAuth app.
type Bot struct {
	ID       int    `json:"id"`
	ClientID string `json:"client_id"`
	Token    string `json:"token"`
	AppID    string `json:"app_id"`
	Code     string `json:"code"`
}

// LargeChat asks for a generated chat of Members synthetic users, every
// ExternalEvery-th an e-mail guest and every InactiveEvery-th dismissed
// (0 turns either off). The webhook user and Bots are members too.
type LargeChat struct {
	ChatID        int    `json:"chat_id"`
	Name          string `json:"name"`
	Members       int    `json:"members"`
	FirstUserID   int    `json:"first_user_id"`
	ExternalEvery int    `json:"external_every"`
	InactiveEvery int    `json:"inactive_every"`
	Bots          []int  `json:"bots"`
}

// LoadFixture reads a fixture file.
func LoadFixture(path string) (*Fixture, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFixture(raw)
}

// ParseFixture decodes fixture JSON.
func ParseFixture(raw []byte) (*Fixture, error) {
	var f Fixture
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("fakeportal: fixture: %w", err)
	}
	return &f, nil
}

// generate expands a LargeChat into users and a chat.
func (g LargeChat) generate(owner int) ([]User, Chat) {
	first := g.FirstUserID
	if first == 0 {
		first = 100000
	}
	users := make([]User, 0, g.Members)
	members := []int{owner}
	// Filled like real accounts (avatars, activity dates, some phones), so
	// that size comparisons against the raw answers are fair.
	positions := []string{"Engineer", "Sales Manager", "Accountant", "Support Specialist", "Project Manager", "Designer", "HR Partner"}
	firstNames := []string{"Anna", "Boris", "Chen", "Daria", "Emil", "Fatima", "Georg", "Hana", "Ivan", "Julia"}
	lastNames := []string{"Ivanova", "Schmidt", "Novak", "Garcia", "Kowalski", "Tanaka", "Okafor", "Larsen"}
	for i := 0; i < g.Members; i++ {
		id := first + i
		fn, ln := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		u := User{ID: id, FirstName: fn, LastName: ln, Active: true,
			Type: "user", ExternalAuthID: "default", Gender: []string{"F", "M"}[i%2], Color: "#58cc47", Status: "online",
			Avatar:       fmt.Sprintf("https://cdn-com.bitrix24.com/avatars/u%d.png", id),
			LastActivity: "2026-03-02T17:45:59+02:00",
			Email:        fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(fn), strings.ToLower(ln), id), Departments: []int{1 + i%7}}
		if i%3 != 0 {
			u.MobileLastDate = "2026-03-01T09:12:44+02:00"
		}
		if i%3 == 1 {
			u.Phones = map[string]string{"personal_mobile": fmt.Sprintf("+1916555%04d", i%10000)}
		}
		pos := positions[i%len(positions)]
		u.WorkPosition = &pos
		if g.ExternalEvery > 0 && i%g.ExternalEvery == g.ExternalEvery-1 {
			u.Type, u.ExternalAuthID, u.WorkPosition, u.Avatar = "email", "email", nil, ""
			u.FirstName, u.LastName = u.Email, ""
		}
		if g.InactiveEvery > 0 && i%g.InactiveEvery == g.InactiveEvery-1 {
			u.Active = false
		}
		u.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		users = append(users, u)
		members = append(members, id)
	}
	members = append(members, g.Bots...)
	name := g.Name
	if name == "" {
		name = fmt.Sprintf("Generated chat of %d", g.Members)
	}
	return users, Chat{ID: g.ChatID, Name: name, Type: "chat", Owner: owner, Members: members, Color: "#4ba984", DateCreate: "2026-01-15T10:00:00+01:00"}
}
