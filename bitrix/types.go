package bitrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Opt is a value Bitrix24 may leave unset, which it writes as null or, for
// several user fields, as false. Unset values marshal as null.
type Opt[T any] struct {
	V     T
	Valid bool
}

func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) || bytes.Equal(b, []byte("false")) {
		*o = Opt[T]{}
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Opt[T]{V: v, Valid: true}
	return nil
}

func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if !o.Valid {
		return []byte("null"), nil
	}
	return json.Marshal(o.V)
}

// Ptr returns the value's address, or nil when unset.
func (o Opt[T]) Ptr() *T {
	if !o.Valid {
		return nil
	}
	v := o.V
	return &v
}

// FlexInt reads an integer written as a number or as a numeric string
// (batch answers and older portals do both).
type FlexInt int

func (n *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*n = 0
			return nil
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		*n = FlexInt(v)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	var v json.Number
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	i, err := v.Int64()
	if err != nil {
		f, ferr := v.Float64()
		if ferr != nil {
			return err
		}
		i = int64(f)
	}
	*n = FlexInt(i)
	return nil
}

// Phones is a user's phone numbers (absent numbers are omitted by the portal).
type Phones struct {
	WorkPhone      string `json:"work_phone,omitempty"`
	PersonalMobile string `json:"personal_mobile,omitempty"`
	PersonalPhone  string `json:"personal_phone,omitempty"`
	InnerPhone     string `json:"inner_phone,omitempty"`
}

// DialogUser is a user as im.dialog.users.list, im.user.list.get and
// im.search.user.list return one (snake_case). A search leaves out active
// and type: Active is nil and Type "" then, meaning unknown, never false.
type DialogUser struct {
	ID               FlexInt         `json:"id" b24:"required"`
	Active           *bool           `json:"active"`
	Name             string          `json:"name"`
	FirstName        string          `json:"first_name"`
	LastName         string          `json:"last_name"`
	WorkPosition     Opt[string]     `json:"work_position"`
	Color            string          `json:"color"`
	Avatar           string          `json:"avatar"`
	AvatarHR         string          `json:"avatar_hr"`
	Gender           string          `json:"gender"`
	Birthday         Opt[string]     `json:"birthday"` // "DD-MM", "" or false
	Extranet         bool            `json:"extranet"`
	Network          bool            `json:"network"`
	Bot              bool            `json:"bot"`
	Connector        bool            `json:"connector"`
	ExternalAuthID   string          `json:"external_auth_id"`
	Status           string          `json:"status"`
	Idle             Opt[string]     `json:"idle"`
	LastActivityDate Opt[string]     `json:"last_activity_date"`
	MobileLastDate   Opt[string]     `json:"mobile_last_date"`
	DesktopLastDate  Opt[string]     `json:"desktop_last_date"`
	Absent           Opt[string]     `json:"absent"`
	Departments      []FlexInt       `json:"departments"`
	Phones           Opt[Phones]     `json:"phones"`
	BotData          json.RawMessage `json:"bot_data"`
	Type             string          `json:"type"`
	Website          string          `json:"website"`
	Email            string          `json:"email"`
}

// BotChatUser is one member as imbot.v2.Chat.User.list returns it (camelCase).
type BotChatUser struct {
	ID           FlexInt     `json:"id" b24:"required"`
	Active       bool        `json:"active"`
	Name         string      `json:"name"`
	FirstName    string      `json:"firstName"`
	LastName     string      `json:"lastName"`
	WorkPosition Opt[string] `json:"workPosition"`
	Bot          bool        `json:"bot"`
	Type         string      `json:"type"`
}

// BotChat is imbot.v2.Chat.get's chat object (the fields this server uses).
type BotChat struct {
	ID            FlexInt      `json:"id" b24:"required"`
	DialogID      string       `json:"dialogId"`
	Name          string       `json:"name"`
	Description   string       `json:"description"`
	Type          string       `json:"type"`
	MessageType   string       `json:"messageType"`
	Owner         FlexInt      `json:"owner"`
	Color         Opt[string]  `json:"color"`
	Avatar        Opt[string]  `json:"avatar"`
	Extranet      bool         `json:"extranet"`
	EntityType    string       `json:"entityType"`
	EntityID      string       `json:"entityId"`
	Role          string       `json:"role"`
	MuteList      []FlexInt    `json:"muteList"`
	ManagerList   []FlexInt    `json:"managerList"`
	DateCreate    Opt[string]  `json:"dateCreate"`
	LastMessageID Opt[FlexInt] `json:"lastMessageId"`
	MessageCount  FlexInt      `json:"messageCount"`
	UserCounter   FlexInt      `json:"userCounter"`
}

// Ints converts a list of FlexInt to plain ints.
func Ints(v []FlexInt) []int {
	out := make([]int, len(v))
	for i, n := range v {
		out[i] = int(n)
	}
	return out
}
