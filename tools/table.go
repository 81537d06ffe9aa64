package tools

import (
	"encoding/json"
	"fmt"
	"strings"
)

// How users travel in the structured channel, which is what Claude Code
// and VS Code hand the model (JSON.stringify(structuredContent)): compact
// users as a table, their keys named once in columns and each user a row,
// so the channel costs what the text lines do (objects repeat every key on
// every user, twice the characters); full users as objects.

// UserListing is the users of a listing.
type UserListing struct {
	Columns []string     `json:"columns,omitzero" jsonschema_description:"With fields=compact (the default): the names of each row's cells, in order: id, name, type, flags, position."`
	Rows    []UserRow    `json:"rows,omitzero" jsonschema_description:"With fields=compact: one row per user, in order, each [id, name, type, flags, position]. type is \"\" when Bitrix24 did not say; flags is a comma list of bot, extranet, inactive and ext=<external_auth_id>, \"\" for none; position is \"\" when unset."`
	Users   []DialogUser `json:"users,omitzero" jsonschema_description:"With fields=full: every field of each user, as objects."`
}

// IDs are the listed users' ids, in order, whichever form they came in.
func (l UserListing) IDs() []int {
	var ids []int
	for _, r := range l.Rows {
		ids = append(ids, r.ID)
	}
	for _, u := range l.Users {
		ids = append(ids, u.ID)
	}
	return ids
}

// userColumns names a UserRow's cells.
var userColumns = func() []string {
	var names []string
	for _, c := range UserRowCells {
		names = append(names, c[0])
	}
	return names
}()

// UserRow is one compact user: [id, name, type, flags, position].
type UserRow struct {
	ID       int
	Name     string
	Type     string
	Flags    string
	Position string
}

func (r UserRow) MarshalJSON() ([]byte, error) {
	return json.Marshal([5]any{r.ID, r.Name, r.Type, r.Flags, r.Position})
}

func (r *UserRow) UnmarshalJSON(b []byte) error {
	var cells []json.RawMessage
	if err := json.Unmarshal(b, &cells); err != nil || len(cells) != 5 {
		return fmt.Errorf("a user row is [id, name, type, flags, position]: %s", b)
	}
	for i, dst := range []any{&r.ID, &r.Name, &r.Type, &r.Flags, &r.Position} {
		if err := json.Unmarshal(cells[i], dst); err != nil {
			return fmt.Errorf("a user row's %s: %w", userColumns[i], err)
		}
	}
	return nil
}

// UserRowCells are a row's cells, in order, with their JSON types: the
// output schema describes a row from them (internal/gen/genschemas).
var UserRowCells = [][2]string{{"id", "integer"}, {"name", "string"}, {"type", "string"}, {"flags", "string"}, {"position", "string"}}

func toUserRow(u DialogUser) UserRow {
	return UserRow{ID: u.ID, Name: u.Name, Type: u.Type, Flags: strings.Join(userFlags(u), ","), Position: u.WorkPosition}
}

// userFlags are what the text's flags column and a row's flags cell say.
func userFlags(u DialogUser) []string {
	var flags []string
	if u.Bot {
		flags = append(flags, "bot")
	}
	if u.Extranet {
		flags = append(flags, "extranet")
	}
	if u.Active != nil && !*u.Active {
		flags = append(flags, "inactive")
	}
	if u.ExternalAuthID != "" {
		flags = append(flags, "ext="+u.ExternalAuthID)
	}
	return flags
}

// listUsers fills a listing with as many users as fit the budget in both
// channels: rows (or, full, objects) and the text's lines.
func listUsers(max int, users []DialogUser, full bool) (l UserListing, lines []string, kept int) {
	if full {
		l.Users, lines = withinBudget(max, users, userLine, userJSONLen)
		return l, lines, len(l.Users)
	}
	rows := make([]UserRow, len(users))
	for i, u := range users {
		rows[i] = toUserRow(u)
	}
	l.Columns = userColumns
	l.Rows, lines = withinBudget(max-jsonLen(userColumns), rows, rowLine, func(r UserRow) int { return jsonLen(r) })
	return l, lines, len(l.Rows)
}
