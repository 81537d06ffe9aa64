package fakeportal

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The people-and-chats directory and the methods that change it, as their
// pages describe them: im.search.user.list, user.search, im.user.list.get,
// im.search.chat.list, im.recent.list, im.dialog.get, im.chat.user.delete
// and imbot.v2.Bot.register.

func matches(text, find string) bool {
	return find != "" && strings.Contains(strings.ToLower(text), strings.ToLower(find))
}

// departmentNames lists a user's department names.
func (p *Portal) departmentNames(u *User) string {
	var names []string
	for _, d := range u.Departments {
		names = append(names, p.fix.Departments[strconv.Itoa(d)])
	}
	return strings.Join(names, " ")
}

// pageOf cuts a sorted list at OFFSET/LIMIT (default def, cap max) and says
// where the next page starts.
func pageOf[T any](items []T, params map[string]any, def, max int) ([]T, *int, *int) {
	limit := intParam(params["LIMIT"])
	if limit <= 0 {
		limit = def
	}
	limit = min(limit, max)
	offset := max0(intParam(params["OFFSET"]))
	total := len(items)
	end := min(total, offset+limit)
	var page []T
	if offset < total {
		page = items[offset:end]
	}
	var next *int
	if end < total {
		next = &end
	}
	return page, &total, next
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

func (p *Portal) searchUsers(params map[string]any) (answer, *apiError) {
	find := strings.TrimSpace(str(params["FIND"]))
	if len([]rune(find)) < 2 {
		return answer{}, errf(400, "FIND_SHORT", "Too short a search phrase.")
	}
	var found []*User
	for _, u := range p.sortedUsers() {
		if u.Active && (matches(u.Name, find) || matches(deref(u.WorkPosition), find) || matches(p.departmentNames(u), find)) {
			found = append(found, u)
		}
	}
	page, total, next := pageOf(found, params, 10, 50)
	if len(page) == 0 {
		return answer{result: []any{}, total: total}, nil
	}
	byID := newOrdered()
	for _, u := range page {
		byID.set(strconv.Itoa(u.ID), renderUser(u))
	}
	return answer{result: byID, total: total, next: next}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (p *Portal) sortedUsers() []*User {
	users := make([]*User, 0, len(p.users))
	for _, u := range p.users {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return users
}

// userSearch is user.search: FILTER keys match as substrings; 50 a page from start.
func (p *Portal) userSearch(params map[string]any) (answer, *apiError) {
	filter, _ := params["FILTER"].(map[string]any)
	if filter == nil {
		filter = map[string]any{}
		for _, k := range []string{"NAME", "LAST_NAME", "WORK_POSITION", "UF_DEPARTMENT_NAME", "USER_TYPE", "FIND", "ACTIVE"} {
			if v, ok := params[k]; ok { // the docs' examples pass the filter at top level
				filter[k] = v
			}
		}
	}
	var found []*User
	for _, u := range p.sortedUsers() {
		ok := true
		for k, v := range filter {
			want := str(v)
			switch k {
			case "NAME":
				ok = ok && matches(u.FirstName, want)
			case "LAST_NAME":
				ok = ok && matches(u.LastName, want)
			case "WORK_POSITION":
				ok = ok && matches(deref(u.WorkPosition), want)
			case "UF_DEPARTMENT_NAME":
				ok = ok && matches(p.departmentNames(u), want)
			case "USER_TYPE":
				ok = ok && userType(u) == want
			case "FIND":
				ok = ok && (matches(u.Name, want) || matches(deref(u.WorkPosition), want))
			case "ACTIVE":
				ok = ok && (u.Active == (want == "Y" || want == "1"))
			}
		}
		if ok && !u.Bot {
			found = append(found, u)
		}
	}
	start := max0(intParam(params["start"]))
	page, total, next := pageOf(found, map[string]any{"OFFSET": start, "LIMIT": 50}, 50, 50)
	out := []map[string]any{}
	for _, u := range page {
		out = append(out, map[string]any{"ID": strconv.Itoa(u.ID), "ACTIVE": u.Active, "NAME": u.FirstName, "LAST_NAME": u.LastName,
			"WORK_POSITION": deref(u.WorkPosition), "EMAIL": u.Email, "USER_TYPE": userType(u), "UF_DEPARTMENT": u.Departments})
	}
	return answer{result: out, total: total, next: next}, nil
}

func userType(u *User) string {
	switch u.Type {
	case "user":
		return "employee"
	}
	return u.Type
}

// usersByID is im.user.list.get: an object keyed by id (null for unknown
// ids), or an array with RESULT_TYPE=array.
func (p *Portal) usersByID(params map[string]any) (answer, *apiError) {
	ids := intList(params["ID"])
	if len(ids) == 0 {
		return answer{}, errf(400, "INVALID_FORMAT", "A wrong format for the ID field is passed")
	}
	asArray := str(params["RESULT_TYPE"]) == "array"
	byID, list := newOrdered(), []any{}
	for _, id := range ids {
		var v any
		if u := p.users[id]; u != nil {
			v = renderUser(u)
			list = append(list, v)
		}
		byID.set(strconv.Itoa(id), v)
	}
	if asArray {
		return answer{result: list}, nil
	}
	return answer{result: byID}, nil
}

// canSee is whether the caller may read a chat: a member, or an open chat.
func canSee(c *Chat, who caller) bool {
	return contains(c.Members, who.userID) || c.Type == "open" || c.Type == "general"
}

func (p *Portal) sortedChats() []*Chat {
	chats := make([]*Chat, 0, len(p.chats))
	for _, c := range p.chats {
		chats = append(chats, c)
	}
	sort.Slice(chats, func(i, j int) bool { return chats[i].ID < chats[j].ID })
	return chats
}

// renderChat writes a chat the im methods' way (snake_case), role as the caller's.
func renderChat(c *Chat, who caller) map[string]any {
	role := "member"
	switch {
	case c.Owner == who.userID:
		role = "owner"
	case contains(c.Managers, who.userID):
		role = "manager"
	case !contains(c.Members, who.userID):
		role = "guest"
	}
	var desc, color, created, last any
	if c.Description != "" {
		desc = c.Description
	}
	if c.Color != "" {
		color = c.Color
	}
	if c.DateCreate != "" {
		created = c.DateCreate
	}
	if c.LastMessage > 0 {
		last = c.LastMessage
	}
	// PHP writes a set of muted users as an object keyed by id.
	muted := map[string]bool{}
	for _, id := range c.Muted {
		muted[strconv.Itoa(id)] = true
	}
	var muteList any = []any{}
	if len(muted) > 0 {
		muteList = muted
	}
	managers := c.Managers
	if managers == nil {
		managers = []int{}
	}
	return map[string]any{"id": c.ID, "parent_chat_id": 0, "name": c.Name, "description": desc, "owner": c.Owner,
		"extranet": c.Extranet, "avatar": "", "color": color, "type": c.Type, "counter": 0, "user_counter": len(c.Members),
		"message_count": c.MessageCount, "last_message_id": last, "entity_type": c.EntityType, "entity_id": c.EntityID,
		"mute_list": muteList, "manager_list": managers, "date_create": created, "message_type": "C", "role": role,
		"dialog_id": "chat" + strconv.Itoa(c.ID), "permissions": map[string]any{"manage_users_add": "member", "manage_users_delete": "manager"}}
}

// searchChats is im.search.chat.list: accessible chats by name, newest (highest id) first.
func (p *Portal) searchChats(who caller, params map[string]any) (answer, *apiError) {
	find := strings.TrimSpace(str(params["FIND"]))
	if find == "" {
		find = strings.TrimSpace(str(params["FIND_LINES"]))
	}
	if len([]rune(find)) < 2 {
		return answer{}, errf(400, "FIND_SHORT", "Too short a search phrase.")
	}
	var found []*Chat
	chats := p.sortedChats()
	for i := len(chats) - 1; i >= 0; i-- {
		if c := chats[i]; canSee(c, who) && matches(c.Name, find) {
			found = append(found, c)
		}
	}
	page, total, next := pageOf(found, params, 10, 50)
	out := []map[string]any{}
	for _, c := range page {
		out = append(out, renderChat(c, who))
	}
	return answer{result: out, total: total, next: next}, nil
}

// recent is im.recent.list for the caller's chats, in seed order. As on a
// real portal, a page after the first repeats the previous page's last item,
// total is -1, and hasMore says whether to go on.
func (p *Portal) recent(who caller, params map[string]any) (answer, *apiError) {
	var mine []*Chat
	for _, id := range p.ChatIDs() {
		if c := p.chats[id]; c != nil && contains(c.Members, who.userID) && str(params["SKIP_CHAT"]) != "Y" {
			mine = append(mine, c)
		}
	}
	limit := intParam(params["LIMIT"])
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	offset := max0(intParam(params["OFFSET"]))
	start := offset
	if start > 0 {
		start-- // the overlap
	}
	items := []map[string]any{}
	for i := start; i < len(mine) && i < offset+limit; i++ {
		c := mine[i]
		items = append(items, map[string]any{"id": "chat" + strconv.Itoa(c.ID), "chat_id": c.ID, "type": "chat",
			"title": c.Name, "counter": 0, "pinned": false, "chat": renderChat(c, who)})
	}
	total := -1
	return answer{result: map[string]any{"items": items, "hasMore": offset+limit < len(mine), "hasMorePages": offset+limit < len(mine)}, total: &total}, nil
}

// dialogGet is im.dialog.get: chatN or sgN the caller may see.
func (p *Portal) dialogGet(who caller, params map[string]any) (answer, *apiError) {
	dialogID := strings.TrimSpace(str(params["DIALOG_ID"]))
	if dialogID == "" {
		return answer{}, errf(400, "DIALOG_ID_EMPTY", "Dialog ID can't be empty")
	}
	chat, isChat := p.chatOf(dialogID)
	if !isChat || chat == nil || !canSee(chat, who) {
		return answer{}, errf(403, "ACCESS_ERROR", "You do not have access to the specified dialog")
	}
	return answer{result: renderChat(chat, who)}, nil
}

// chatUserDelete is im.chat.user.delete: one user; the owner and managers may
// exclude members (a member may leave), never from the general chat.
func (p *Portal) chatUserDelete(who caller, params map[string]any) (answer, *apiError) {
	chatID, userID := intParam(params["CHAT_ID"]), intParam(params["USER_ID"])
	switch {
	case chatID <= 0:
		return answer{}, errf(400, "CHAT_ID_EMPTY", "Chat ID can't be empty")
	case userID <= 0:
		return answer{}, errf(400, "USER_ID_EMPTY", "User ID can't be empty")
	}
	chat := p.chats[chatID]
	switch {
	case chat == nil || !contains(chat.Members, who.userID):
		return answer{}, errf(403, "ACCESS_ERROR", "Action unavailable")
	case chat.Type == "general":
		return answer{}, errf(403, "ACCESS_ERROR", "It is forbidden to delete users of this chat")
	case userID != who.userID && chat.Owner != who.userID && !contains(chat.Managers, who.userID):
		return answer{}, errf(403, "ACCESS_DENIED_KICK", "Insufficient rights to exclude participants from the chat")
	case !contains(chat.Members, userID):
		return answer{}, errf(400, "USER_NOT_FOUND", "The specified user is not in the chat")
	}
	p.stats.DeleteUserCalls++
	kept := chat.Members[:0]
	for _, id := range chat.Members {
		if id != userID {
			kept = append(kept, id)
		}
	}
	chat.Members = kept
	return answer{result: true}, nil
}

// botRegister is imbot.v2.Bot.register: idempotent per application and code
// (the same code returns the existing bot unchanged).
func (p *Portal) botRegister(who caller, params map[string]any) (answer, *apiError) {
	fields, _ := params["fields"].(map[string]any)
	code := strings.TrimSpace(str(fields["code"]))
	props, _ := fields["properties"].(map[string]any)
	token := str(fields["botToken"])
	switch {
	case code == "":
		return answer{}, errf(400, "BOT_CODE_REQUIRED", "Bot code is required")
	case props == nil || str(props["name"]) == "":
		return answer{}, errf(400, "BOT_PROPERTIES_REQUIRED", "Bot properties are required")
	case who.webhook && token == "":
		return answer{}, errf(400, "BOT_TOKEN_NOT_SPECIFIED", "Bot token is not specified")
	case len(token) > 40:
		return answer{}, errf(400, "BOT_TOKEN_INVALID_LENGTH", "Bot token must not be longer than 40 characters")
	}
	app := who.appID
	if who.webhook {
		app = fmt.Sprintf("webhook:%d", who.userID)
	}
	for _, b := range p.bots {
		if b.AppID == app && b.Code == code {
			return answer{result: p.renderBot(b)}, nil
		}
	}
	id := 0
	for uid := range p.users {
		id = max(id, uid)
	}
	id++
	name := str(props["name"])
	b := &Bot{ID: id, Code: code, Token: token, AppID: app}
	p.bots[id] = b
	p.users[id] = &User{ID: id, Name: name, FirstName: name, Active: true, Type: "bot", Bot: true, ExternalAuthID: "bot"}
	p.stats.BotsRegistered++
	return answer{result: p.renderBot(b)}, nil
}

func (p *Portal) renderBot(b *Bot) map[string]any {
	name := ""
	if u := p.users[b.ID]; u != nil {
		name = u.Name
	}
	return map[string]any{"bot": map[string]any{"id": b.ID, "code": b.Code, "name": name, "type": "bot", "eventMode": "fetch"},
		"users": []any{map[string]any{"id": b.ID, "name": name, "bot": true, "type": "bot"}}}
}
