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

// wordPrefix is user.search's match: a word of text starts with find
// (its full-text index, or a right LIKE: user-search.md).
func wordPrefix(text, find string) bool {
	find = strings.ToLower(strings.TrimSpace(find))
	if find == "" {
		return false
	}
	text = strings.ToLower(text)
	for i := 0; i < len(text); i++ {
		if (i == 0 || !isWordChar(text[i-1])) && strings.HasPrefix(text[i:], find) {
			return true
		}
	}
	return false
}

func isWordChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
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
		byID.set(strconv.Itoa(u.ID), renderSearchUser(u))
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

// userSearch is user.search: FILTER keys match a word's start; 50 a page from start.
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
				ok = ok && wordPrefix(u.FirstName, want)
			case "LAST_NAME":
				ok = ok && wordPrefix(u.LastName, want)
			case "WORK_POSITION":
				ok = ok && wordPrefix(deref(u.WorkPosition), want)
			case "UF_DEPARTMENT_NAME":
				ok = ok && wordPrefix(p.departmentNames(u), want)
			case "USER_TYPE":
				ok = ok && userType(u) == want
			case "FIND":
				ok = ok && (wordPrefix(u.Name, want) || wordPrefix(deref(u.WorkPosition), want))
			case "ACTIVE":
				ok = ok && u.Active == (want == "Y" || want == "1" || want == "true")
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
		out = append(out, renderPortalUser(u, true))
	}
	return answer{result: out, total: total, next: next}, nil
}

// renderPortalUser writes a user as user.search (search) and user.current
// do: UPPER_CASE, the id a string (user-search.md, user-current.md).
func renderPortalUser(u *User, search bool) map[string]any {
	deps := u.Departments
	if deps == nil {
		deps = []int{}
	}
	online := "N"
	if u.Status == "online" {
		online = "Y"
	}
	out := map[string]any{"ID": strconv.Itoa(u.ID), "ACTIVE": u.Active, "NAME": u.FirstName, "LAST_NAME": u.LastName,
		"EMAIL": u.Email, "LAST_LOGIN": u.LastActivity, "DATE_REGISTER": "2024-01-15T00:00:00+00:00", "IS_ONLINE": online,
		"LAST_ACTIVITY_DATE": u.LastActivity, "PERSONAL_GENDER": u.Gender, "PERSONAL_BIRTHDAY": "",
		"WORK_POSITION": deref(u.WorkPosition), "UF_EMPLOYMENT_DATE": "", "UF_DEPARTMENT": deps}
	if search {
		out["SECOND_NAME"], out["TIME_ZONE"], out["TIMESTAMP_X"], out["PERSONAL_WWW"] = "", "", map[string]any{}, ""
		out["PERSONAL_MOBILE"], out["PERSONAL_CITY"], out["WORK_PHONE"] = u.Phones["personal_mobile"], "", u.Phones["work_phone"]
		out["USER_TYPE"], out["LAST_ACTIVITY_DATE"] = userType(u), map[string]any{}
	}
	return out
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

// The members each method's documented example shows for a chat
// (b24restdocs: im-dialog-get.md, im-search-chat-list.md, im-recent-list.md).
var (
	chatSearchKeys = []string{"id", "parent_chat_id", "parent_message_id", "name", "description", "owner", "extranet", "avatar",
		"color", "type", "counter", "user_counter", "message_count", "unread_id", "restrictions", "last_message_id", "last_id",
		"marked_id", "disk_folder_id", "entity_type", "entity_id", "entity_data_1", "entity_data_2", "entity_data_3", "mute_list",
		"date_create", "message_type", "public", "role", "entity_link", "text_field_enabled", "background_id", "permissions", "is_new"}
	chatDialogKeys = append(append([]string{}, chatSearchKeys...), "readed_list", "manager_list", "last_message_views", "dialog_id")
	chatRecentKeys = []string{"id", "parent_chat_id", "parent_message_id", "name", "owner", "extranet", "contains_collaber", "avatar",
		"color", "type", "entity_type", "entity_id", "entity_data_1", "entity_data_2", "entity_data_3", "mute_list", "manager_list",
		"date_create", "message_type", "user_counter", "restrictions", "role", "text_field_enabled", "background_id", "entity_link",
		"permissions", "public"}
)

// renderChat writes a chat the im methods' way (snake_case), with the
// members keys name, role as the caller's.
func renderChat(c *Chat, who caller, keys []string) map[string]any {
	role := "member"
	switch {
	case c.Owner == who.userID:
		role = "owner"
	case contains(c.Managers, who.userID):
		role = "manager"
	case !contains(c.Members, who.userID):
		role = "guest"
	}
	var color, last any = "", 0
	if c.Color != "" {
		color = c.Color
	}
	if c.LastMessage > 0 {
		last = c.LastMessage
	}
	created := c.DateCreate
	if created == "" {
		created = "2024-01-15T10:00:00+01:00"
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
	readers := []any{}
	for _, id := range c.Members {
		readers = append(readers, map[string]any{"user_id": id, "user_name": "", "message_id": 0, "date": nil})
	}
	full := map[string]any{"id": c.ID, "parent_chat_id": 0, "parent_message_id": 0, "name": c.Name, "description": c.Description,
		"owner": c.Owner, "extranet": c.Extranet, "contains_collaber": false, "avatar": "", "color": color, "type": c.Type,
		"counter": 0, "user_counter": len(c.Members), "message_count": c.MessageCount, "unread_id": 0,
		"restrictions": map[string]any{"avatar": true, "rename": true, "extend": true, "call": true, "mute": true, "leave": true,
			"leave_owner": true, "send": true, "user_list": true, "path": "", "path_title": ""},
		"last_message_id": last, "last_id": last, "marked_id": 0, "disk_folder_id": 0,
		"entity_type": c.EntityType, "entity_id": c.EntityID, "entity_data_1": "", "entity_data_2": "", "entity_data_3": "",
		"mute_list": muteList, "date_create": created, "message_type": "C", "public": "", "role": role,
		"entity_link": map[string]any{"type": c.EntityType, "url": "", "id": c.EntityID}, "text_field_enabled": true,
		"background_id": nil, "permissions": map[string]any{"manage_users_add": "member", "manage_users_delete": "manager",
			"manage_ui": "member", "manage_settings": "owner", "manage_messages": "member", "can_post": "member"},
		"is_new": false, "readed_list": readers, "manager_list": managers,
		"last_message_views": map[string]any{"message_id": last, "first_viewers": []any{}, "count_of_viewers": 0},
		"dialog_id":          "chat" + strconv.Itoa(c.ID)}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		out[k] = full[k]
	}
	if len(keys) == len(chatRecentKeys) && keys[len(keys)-1] == chatRecentKeys[len(chatRecentKeys)-1] {
		// im.recent.list's chats carry no restriction paths.
		r := out["restrictions"].(map[string]any)
		delete(r, "path")
		delete(r, "path_title")
	}
	return out
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
		out = append(out, renderChat(c, who, chatSearchKeys))
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
		date := c.DateCreate
		if date == "" {
			date = "2024-01-15T10:00:00+01:00"
		}
		items = append(items, map[string]any{"id": "chat" + strconv.Itoa(c.ID), "chat_id": c.ID, "type": "chat",
			"avatar": map[string]any{"url": "", "color": c.Color}, "title": c.Name,
			"message": map[string]any{"id": c.LastMessage, "text": "", "file": false, "author_id": c.Owner, "attach": false,
				"sticker": nil, "date": date, "status": "received", "uuid": ""},
			"counter": 0, "last_id": c.LastMessage, "pinned": false, "unread": false, "has_reminder": false,
			"date_update": date, "date_last_activity": date, "chat": renderChat(c, who, chatRecentKeys),
			"user": p.renderOwner(c), "options": []any{}})
	}
	total := -1
	more := offset+limit < len(mine)
	return answer{result: map[string]any{"items": items, "hasMore": more, "hasMorePages": more,
		"copilot":                   map[string]any{"chats": nil, "messages": nil, "roles": map[string]any{}, "recommendedRoles": []any{}},
		"messagesAutoDeleteConfigs": []any{}}, total: &total}, nil
}

// renderOwner is a recent item's user: the chat's owner.
func (p *Portal) renderOwner(c *Chat) map[string]any {
	if u := p.users[c.Owner]; u != nil {
		return renderUser(u)
	}
	return renderUser(&User{ID: c.Owner, Active: true, Type: "user"})
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
	return answer{result: renderChat(chat, who, chatDialogKeys)}, nil
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
	u := p.users[b.ID]
	if u == nil {
		u = &User{ID: b.ID, Active: true, Type: "bot", Bot: true, ExternalAuthID: "bot"}
	}
	return map[string]any{"bot": map[string]any{"id": b.ID, "code": b.Code, "type": "bot", "isHidden": false,
		"isSupportOpenline": false, "isReactionsEnabled": true, "backgroundId": nil, "language": "en", "moduleId": "rest",
		"eventMode": "fetch", "countMessage": 0, "countCommand": 0, "countChat": 0, "countUser": 0},
		"users": []any{renderBotChatUser(u)}}
}
