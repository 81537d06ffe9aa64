package tools

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The text channel. Many clients hand the model only a result's text
// content, others only its structuredContent, so the text carries every datum
// too: the summary line, then the data in a line format that costs fewer
// tokens than the same data as JSON (make bench measures both; README
// "Results"). The format:
//
//	users (id | name | type | flags | position), one a line:
//	1269 | Alexander Smith | user | - | Sales Department Head
//	456 | Support Bot | bot | bot | -
//
// flags is a comma list of bot, extranet, inactive and ext=<external_auth_id>
// ("-" for none); a type Bitrix24 did not give is "?", never a guess; with fields=full, key=value details follow on the line
// after " | ". Lists of ids are written "name: 1,2,3"; objects as
// "key: value" lines.

// usersHeader introduces rendered users.
const usersHeader = "users (id | name | type | flags | position):"

// rowLine renders a compact user on one line.
func rowLine(r UserRow) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.ID))
	b.WriteString(" | ")
	b.WriteString(cell(r.Name))
	b.WriteString(" | ")
	b.WriteString(orUnknown(cell(r.Type)))
	b.WriteString(" | ")
	b.WriteString(orDash(r.Flags))
	b.WriteString(" | ")
	b.WriteString(orDash(cell(r.Position)))
	return b.String()
}

// userLine renders one user on one line: the compact cells, then with
// fields=full the details.
func userLine(u DialogUser) string {
	line := rowLine(toUserRow(u))
	if d := u.UserDetails; d != nil {
		line += " | " + detailsText(d)
	}
	return line
}

// detailsText renders the fields=full extras as key=value pairs, leaving out
// the unset ones.
func detailsText(d *UserDetails) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+cell(v))
		}
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	add("first_name", d.FirstName)
	add("last_name", d.LastName)
	add("email", deref(d.Email))
	if p := d.Phones; p != nil {
		add("work_phone", p.WorkPhone)
		add("personal_mobile", p.PersonalMobile)
		add("personal_phone", p.PersonalPhone)
	}
	if len(d.Departments) > 0 {
		add("departments", join(d.Departments))
	}
	add("status", d.Status)
	add("gender", deref(d.Gender))
	add("birthday", deref(d.Birthday))
	add("last_activity_date", deref(d.LastActivityDate))
	add("mobile_last_date", deref(d.MobileLastDate))
	add("desktop_last_date", deref(d.DesktopLastDate))
	add("idle", deref(d.Idle))
	add("absent", deref(d.Absent))
	add("website", deref(d.Website))
	add("color", d.Color)
	add("avatar", deref(d.Avatar))
	add("avatar_hr", deref(d.AvatarHR))
	if d.Network {
		add("network", "true")
	}
	if d.Connector {
		add("connector", "true")
	}
	if len(d.BotData) > 0 {
		raw, _ := json.Marshal(d.BotData)
		add("bot_data", string(raw))
	}
	return orDash(strings.Join(parts, "; "))
}

// idsLine renders a list of ids: "name: 1,2,3" ("name: none" when empty).
func idsLine(name string, ids []int) string {
	if len(ids) == 0 {
		return name + ": none"
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(": ")
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}

// changeData renders a change's outcome: the ids it changed, the ids it had
// nothing to do for, and each id it could not change with the reason.
func changeData(doneKey string, done []int, asideKey string, aside []int, failKey string, failed []NotChanged) string {
	lines := []string{idsLine(doneKey, done), idsLine(asideKey, aside)}
	if len(failed) == 0 {
		lines = append(lines, failKey+": none")
	}
	for _, f := range failed {
		lines = append(lines, fmt.Sprintf("%s: %d (%s)", failKey, f.ID, f.Reason))
	}
	return strings.Join(lines, "\n")
}

// fieldLines renders an object's fields as "key: value" lines, in order.
func fieldLines(pairs ...any) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s: %s", pairs[i], valueText(pairs[i+1]))
	}
	return b.String()
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case *string:
		if x == nil {
			return "null"
		}
		return cell(*x)
	case *int:
		if x == nil {
			return "null"
		}
		return strconv.Itoa(*x)
	case string:
		return cell(x)
	case []int:
		if len(x) == 0 {
			return "none"
		}
		return join(x)
	}
	return fmt.Sprint(v)
}

// cell keeps a value on its line: no newlines, and no " | " that would
// shift the columns.
func cell(s string) string {
	if !strings.ContainsAny(s, "\n\r|") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", "/").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// DefaultMaxResultChars is BITRIX24_MAX_RESULT_CHARS' default: Claude Code
// moves a result over 50,000 characters out of the conversation into a
// file (unless the tool declares more, see inlineResultChars), and cuts one
// over 25,000 tokens; 40,000 characters is about 11,000 tokens.
const DefaultMaxResultChars = 40000

// budgetReserve leaves room in a result for the summary and fixed fields.
const budgetReserve = 1000

// claudeCodeInlineChars is the largest result Claude Code keeps in the
// conversation unless the tool declares more (anthropic/maxResultSizeChars).
const claudeCodeInlineChars = 50000

// maxResultChars is the effective BITRIX24_MAX_RESULT_CHARS.
func (st Settings) maxResultChars() int {
	if st.MaxResultChars <= 0 {
		return DefaultMaxResultChars
	}
	return st.MaxResultChars
}

func (d *Deps) maxResultChars() int { return d.Settings.maxResultChars() }

// withinBudget is the one loop that keeps a listing within
// BITRIX24_MAX_RESULT_CHARS in each channel: the text, and
// JSON.stringify(structuredContent), which is what Claude Code and VS Code
// hand the model. It keeps the longest prefix of items whose text lines
// (line) and JSON (each item's own, or line's length when json is nil) fit.
func withinBudget[T any](max int, items []T, line func(T) string, json func(T) int) (kept []T, lines []string) {
	kept = []T{}
	text, structured := 0, 0
	for _, it := range items {
		l := line(it)
		j := len(l)
		if json != nil {
			j = json(it)
		}
		if text+len(l)+1 > max-budgetReserve || structured+j+1 > max-budgetReserve {
			break
		}
		text, structured = text+len(l)+1, structured+j+1
		kept = append(kept, it)
		lines = append(lines, l)
	}
	return kept, lines
}

func userJSONLen(u DialogUser) int { return jsonLen(u) }

func jsonLen(v any) int {
	raw, _ := json.Marshal(v)
	return len(raw)
}

// orUnknown writes "?" for a value Bitrix24 did not give.
func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
