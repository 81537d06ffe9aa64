package fakeportal

import (
	"sort"
	"strconv"
	"strings"
)

// externalTypes are the external_auth_id values of system users, which
// SKIP_EXTERNAL drops.
var externalTypes = map[string]bool{"bot": true, "email": true, "imconnector": true, "replica": true,
	"sale": true, "saleanonymous": true, "shop": true, "call": true, "document_editor": true,
	"calendar_sharing": true, "__controller": true}

func contains(list []int, id int) bool {
	for _, v := range list {
		if v == id {
			return true
		}
	}
	return false
}

// chatOf resolves chatN and sgN dialog ids (nil, false when dialogID is neither).
func (p *Portal) chatOf(dialogID string) (*Chat, bool) {
	switch {
	case strings.HasPrefix(dialogID, "chat"):
		id, err := strconv.Atoi(dialogID[4:])
		if err != nil || id <= 0 {
			return nil, false
		}
		return p.chats[id], true
	case strings.HasPrefix(dialogID, "sg"):
		gid, err := strconv.Atoi(dialogID[2:])
		if err != nil || gid <= 0 {
			return nil, false
		}
		for _, c := range p.chats {
			if c.GroupID == gid {
				return c, true
			}
		}
		return nil, true
	}
	return nil, false
}

// dialogMembers returns who is in a dialog, as the caller may see it.
func (p *Portal) dialogMembers(who caller, dialogID string) ([]int, *apiError) {
	dialogID = strings.TrimSpace(dialogID)
	if dialogID == "" {
		return nil, errf(400, "DIALOG_ID_EMPTY", "Dialog ID can't be empty")
	}
	if chat, isChat := p.chatOf(dialogID); isChat {
		if chat == nil {
			return nil, errf(403, "ACCESS_ERROR", "You do not have access to the specified dialog")
		}
		if !contains(chat.Members, who.userID) && chat.Type != "open" && chat.Type != "general" {
			return nil, errf(400, "ACCESS_ERROR", "You don't have access to this chat")
		}
		return chat.Members, nil
	}
	uid, err := strconv.Atoi(dialogID)
	if err != nil || uid <= 0 {
		return nil, errf(400, "DIALOG_ID_EMPTY", "Dialog ID can't be empty")
	}
	if p.users[uid] == nil {
		return nil, errf(403, "ACCESS_ERROR", "You do not have access to the specified dialog")
	}
	if uid == who.userID {
		return []int{uid}, nil
	}
	return []int{who.userID, uid}, nil
}

func (p *Portal) dialogUsersList(who caller, params map[string]any) (answer, *apiError) {
	ids, aerr := p.dialogMembers(who, str(params["DIALOG_ID"]))
	if aerr != nil {
		return answer{}, aerr
	}
	skip := str(params["SKIP_EXTERNAL"]) == "Y"
	keep := map[string]bool{}
	if raw, ok := params["SKIP_EXTERNAL_EXCEPT_TYPES"]; ok && str(raw) != "" {
		skip = true
		for _, t := range strings.Split(str(raw), ",") {
			keep[strings.TrimSpace(t)] = true
		}
	}
	var users []*User
	for _, id := range ids {
		u := p.users[id]
		if u == nil || !u.Active {
			continue
		}
		if skip && externalTypes[u.ExternalAuthID] && !keep[u.ExternalAuthID] {
			continue
		}
		users = append(users, u)
	}
	limit := intParam(params["LIMIT"])
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		limit = 200
	}
	// Keyset mode: LAST_ID present and >= 0 (an empty string counts as 0).
	if raw, ok := params["LAST_ID"]; ok && (str(raw) == "" || intParam(raw) >= 0) {
		last := intParam(raw)
		sorted := append([]*User(nil), users...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
		page := []map[string]any{}
		for _, u := range sorted {
			if u.ID > last && len(page) < limit {
				page = append(page, renderUser(u))
			}
		}
		return answer{result: page}, nil
	}
	offset := intParam(params["OFFSET"])
	if start := intParam(params["start"]); start > 0 {
		offset = start
	}
	if offset < 0 {
		offset = 0
	}
	total := len(users)
	page := []map[string]any{}
	for i := offset; i < total && len(page) < limit; i++ {
		page = append(page, renderUser(users[i]))
	}
	ans := answer{result: page, total: &total}
	if n := offset + len(page); n < total {
		ans.next = &n
	}
	return ans, nil
}

// renderUser writes a user the way the portal does, false for unset dates and phones.
func renderUser(u *User) map[string]any {
	var phones any = false
	if len(u.Phones) > 0 {
		phones = u.Phones
	}
	var wp any
	if u.WorkPosition != nil {
		wp = *u.WorkPosition
	}
	avatarHR := ""
	if u.Avatar != "" {
		avatarHR = strings.TrimSuffix(u.Avatar, ".png") + "@2x.png"
	}
	deps := u.Departments
	if deps == nil {
		deps = []int{}
	}
	var botData any
	if u.Bot {
		botData = map[string]any{"code": "bot" + strconv.Itoa(u.ID), "type": "bot", "is_hidden": false}
	}
	return map[string]any{
		"id": u.ID, "active": u.Active, "name": u.Name, "first_name": u.FirstName, "last_name": u.LastName,
		"work_position": wp, "color": u.Color, "avatar": u.Avatar, "avatar_hr": avatarHR, "gender": u.Gender,
		"birthday": u.Birthday, "extranet": u.Extranet, "network": u.Network, "bot": u.Bot, "connector": u.Connector,
		"external_auth_id": u.ExternalAuthID, "status": u.Status, "idle": false,
		"last_activity_date": lastActivity(u), "mobile_last_date": orFalse(u.MobileLastDate),
		"desktop_last_date": false, "absent": orFalse(u.Absent), "departments": deps, "phones": phones,
		"bot_data": botData, "type": u.Type, "website": "", "email": u.Email,
	}
}

// orFalse writes an unset date the portal's way: false.
func orFalse(s string) any {
	if s == "" {
		return false
	}
	return s
}

// lastActivity is a datetime, as im.dialog.users.list and im.user.list.get
// document it (never false): a user who never logged in shows their
// registration.
func lastActivity(u *User) string {
	if u.LastActivity == "" {
		return "2024-01-15T10:00:00+01:00"
	}
	return u.LastActivity
}

// renderSearchUser writes a user as im.search.user.list does: no active,
// type, e-mail or website; birthday DD-MM or false; phones with all three
// numbers, or false (im-search-user-list.md).
func renderSearchUser(u *User) map[string]any {
	var phones any = false
	if len(u.Phones) > 0 {
		phones = map[string]any{"work_phone": u.Phones["work_phone"], "personal_mobile": u.Phones["personal_mobile"],
			"inner_phone": u.Phones["inner_phone"]}
	}
	var avatar any
	if u.Avatar != "" {
		avatar = u.Avatar
	}
	deps := u.Departments
	if deps == nil {
		deps = []int{}
	}
	return map[string]any{
		"id": u.ID, "name": u.Name, "first_name": u.FirstName, "last_name": u.LastName, "work_position": deref(u.WorkPosition),
		"color": u.Color, "avatar": avatar, "gender": u.Gender, "birthday": orFalse(u.Birthday), "extranet": u.Extranet,
		"network": u.Network, "bot": u.Bot, "connector": u.Connector, "external_auth_id": u.ExternalAuthID, "status": u.Status,
		"idle": false, "last_activity_date": orFalse(u.LastActivity), "mobile_last_date": orFalse(u.MobileLastDate),
		"departments": deps, "absent": orFalse(u.Absent), "phones": phones,
	}
}

// renderBotChatUser writes a user as imbot.v2 does (camelCase; type
// employee for ordinary users; chat-user-list.md).
func renderBotChatUser(u *User) map[string]any {
	var phones any = false
	if len(u.Phones) > 0 {
		camel := map[string]any{}
		for k, v := range u.Phones { // work_phone -> workPhone
			head, tail, _ := strings.Cut(k, "_")
			camel[head+strings.ToUpper(tail[:1])+tail[1:]] = v
		}
		phones = camel
	}
	deps := u.Departments
	if deps == nil {
		deps = []int{}
	}
	typ := u.Type
	if typ == "user" {
		typ = "employee"
	}
	return map[string]any{"id": u.ID, "active": u.Active, "name": u.Name, "firstName": u.FirstName, "lastName": u.LastName,
		"workPosition": deref(u.WorkPosition), "color": u.Color, "avatar": u.Avatar, "gender": u.Gender, "birthday": u.Birthday,
		"extranet": u.Extranet, "bot": u.Bot, "connector": u.Connector, "externalAuthId": u.ExternalAuthID, "status": u.Status,
		"idle": false, "lastActivityDate": orFalse(u.LastActivity), "absent": orFalse(u.Absent), "departments": deps,
		"phones": phones, "type": typ}
}

func (p *Portal) chatUserAdd(who caller, params map[string]any) (answer, *apiError) {
	chatID := intParam(params["CHAT_ID"])
	if chatID == 0 {
		if d := str(params["DIALOG_ID"]); strings.HasPrefix(d, "chat") {
			chatID, _ = strconv.Atoi(d[4:])
		}
	}
	if chatID <= 0 {
		return answer{}, errf(400, "CHAT_ID_EMPTY", "Chat ID can't be empty")
	}
	chat := p.chats[chatID]
	switch {
	case chat == nil || !contains(chat.Members, who.userID):
		return answer{}, errf(403, "ACCESS_ERROR", "It is forbidden to add users to this chat")
	case chat.Type == "general":
		return answer{}, errf(403, "ACCESS_ERROR", "Action unavailable")
	case chat.AddForbidden:
		return answer{}, errf(403, "ACCESS_ERROR", "It is forbidden to add users to this chat")
	case chat.ManagersAdd && chat.Owner != who.userID && !contains(chat.Managers, who.userID):
		return answer{}, errf(400, "ACCESS_DENIED_EXTEND", "Insufficient permissions to add participants to the chat")
	}
	users := intList(params["USERS"])
	if len(users) == 0 {
		return answer{}, errf(400, "WRONG_REQUEST", "Users list is empty")
	}
	hide := str(params["HIDE_HISTORY"]) != "N"
	p.stats.AddUserCalls++
	for _, id := range users {
		u := p.users[id]
		// Unknown and dismissed users are skipped silently; the answer is true regardless.
		if u == nil || !u.Active || contains(chat.Members, id) {
			continue
		}
		chat.Members = append(chat.Members, id)
		p.hidden[[2]int{chatID, id}] = hide
	}
	return answer{result: true}, nil
}

// firstBot is the application's first bot: by CLIENT_ID on webhooks, by app otherwise.
func (p *Portal) firstBot(who caller, clientID string) *Bot {
	ids := make([]int, 0, len(p.bots))
	for id := range p.bots {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		b := p.bots[id]
		if (who.webhook && b.ClientID == clientID) || (!who.webhook && b.AppID == who.appID) {
			return b
		}
	}
	return nil
}

func (p *Portal) botChatUserList(who caller, params map[string]any) (answer, *apiError) {
	chatID := intParam(params["CHAT_ID"])
	if chatID <= 0 {
		return answer{}, errf(400, "CHAT_ID_EMPTY", "Chat ID can't be empty")
	}
	clientID := str(params["CLIENT_ID"])
	if who.webhook && clientID == "" {
		return answer{}, errf(403, "ACCESS_DENIED", "Access denied! Client ID not specified")
	}
	var bot *Bot
	if id := intParam(params["BOT_ID"]); id > 0 {
		bot = p.bots[id]
	} else {
		bot = p.firstBot(who, clientID)
	}
	if bot == nil {
		return answer{}, errf(400, "BOT_ID_ERROR", "Bot not found")
	}
	if (who.webhook && bot.ClientID != clientID) || (!who.webhook && bot.AppID != who.appID) {
		return answer{}, errf(400, "APP_ID_ERROR", "Bot was installed by another rest application")
	}
	chat := p.chats[chatID]
	if chat == nil {
		return answer{}, errf(403, "ACCESS_ERROR", "Action unavailable")
	}
	if !contains(chat.Members, bot.ID) {
		return answer{result: []int{}}, nil
	}
	return answer{result: append([]int{}, chat.Members...)}, nil
}

// v2Bot applies imbot.v2's auth rules: botId required, botToken on webhooks.
func (p *Portal) v2Bot(who caller, params map[string]any) (*Bot, *apiError) {
	id := intParam(params["botId"])
	if id <= 0 {
		return nil, errf(400, "BOT_ID_REQUIRED", "Bot ID is required")
	}
	bot := p.bots[id]
	if bot == nil {
		return nil, errf(404, "BOT_NOT_FOUND", "Bot not found")
	}
	if who.webhook {
		token := str(params["botToken"])
		if token == "" {
			return nil, errf(400, "BOT_TOKEN_NOT_SPECIFIED", "Bot token is not specified")
		}
		if token != bot.Token {
			return nil, errf(403, "BOT_OWNERSHIP_ERROR", "Bot is registered by another application")
		}
	} else if bot.AppID != who.appID {
		return nil, errf(403, "BOT_OWNERSHIP_ERROR", "Bot is registered by another application")
	}
	return bot, nil
}

// v2Chat resolves dialogId for a bot: a group chat it is in, or its private
// dialog with a user (a synthetic chat).
func (p *Portal) v2Chat(bot *Bot, params map[string]any) (*Chat, *apiError) {
	dialogID := strings.TrimSpace(str(params["dialogId"]))
	if dialogID == "" {
		return nil, errf(400, "DIALOG_ID_EMPTY", "Dialog ID can't be empty")
	}
	if chat, isChat := p.chatOf(dialogID); isChat {
		if chat == nil || !contains(chat.Members, bot.ID) {
			return nil, errf(400, "ACCESS_DENIED", "Access denied")
		}
		return chat, nil
	}
	uid, err := strconv.Atoi(dialogID)
	if err != nil || uid <= 0 || p.users[uid] == nil {
		return nil, errf(400, "ACCESS_DENIED", "Access denied")
	}
	u := p.users[uid]
	return &Chat{ID: 1000000 + uid, Name: u.Name, Type: "private", Owner: 0, Members: []int{bot.ID, uid},
		DateCreate: "2026-01-15T10:00:00+01:00"}, nil
}

// v2BotChat authenticates the bot and finds the chat it asks about.
func (p *Portal) v2BotChat(who caller, params map[string]any) (*Bot, *Chat, *apiError) {
	bot, aerr := p.v2Bot(who, params)
	if aerr != nil {
		return nil, nil, aerr
	}
	chat, aerr := p.v2Chat(bot, params)
	return bot, chat, aerr
}

func (p *Portal) botV2ChatUserList(who caller, params map[string]any) (answer, *apiError) {
	_, chat, aerr := p.v2BotChat(who, params)
	if aerr != nil {
		return answer{}, aerr
	}
	limit := intParam(params["limit"])
	if limit < 1 || limit > 200 {
		limit = 50 // out of range falls back to 50, not 200
	}
	ids := append([]int(nil), chat.Members...)
	if order, ok := params["order"].(map[string]any); ok {
		for _, field := range []string{"id", "userId"} {
			if dir, ok := order[field]; ok {
				desc := strings.EqualFold(str(dir), "DESC")
				sort.Slice(ids, func(i, j int) bool {
					if desc {
						return ids[i] > ids[j]
					}
					return ids[i] < ids[j]
				})
			}
		}
	}
	out := []map[string]any{}
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		u := p.users[id]
		if u == nil {
			continue
		}
		out = append(out, renderBotChatUser(u))
	}
	return answer{result: out}, nil
}

func (p *Portal) botV2ChatGet(who caller, params map[string]any) (answer, *apiError) {
	bot, chat, aerr := p.v2BotChat(who, params)
	if aerr != nil {
		return answer{}, aerr
	}
	role := "member"
	switch {
	case chat.Owner == bot.ID:
		role = "owner"
	case contains(chat.Managers, bot.ID):
		role = "manager"
	}
	dialogID := "chat" + strconv.Itoa(chat.ID)
	messageType := "C"
	switch chat.Type {
	case "private":
		dialogID, messageType = strconv.Itoa(chat.Members[1]), "P"
	case "open":
		messageType = "O"
	}
	var color, dateCreate, lastMessage any
	if chat.Color != "" {
		color = chat.Color
	}
	if chat.DateCreate != "" {
		dateCreate = chat.DateCreate
	}
	if chat.LastMessage > 0 {
		lastMessage = chat.LastMessage
	}
	nonNil := func(v []int) []int {
		if v == nil {
			return []int{}
		}
		return v
	}
	return answer{result: map[string]any{"chat": map[string]any{
		"id": chat.ID, "dialogId": dialogID, "name": chat.Name, "description": chat.Description,
		"type": chat.Type, "messageType": messageType, "owner": chat.Owner, "color": color, "avatar": "",
		"extranet": chat.Extranet, "containsCollaber": false, "entityType": chat.EntityType,
		"entityId": chat.EntityID, "entityData1": "", "entityData2": "", "entityData3": "",
		"entityLink": map[string]any{}, "diskFolderId": 0, "role": role, "permissions": map[string]any{},
		"muteList": nonNil(chat.Muted), "parentChatId": nil, "parentMessageId": nil, "isNew": false,
		"textFieldEnabled": "Y", "backgroundId": nil, "dateCreate": dateCreate, "lastMessageId": lastMessage,
		"lastMessageViews": "{}", "lastId": lastMessage, "managerList": nonNil(chat.Managers), "markedId": nil,
		"messageCount": chat.MessageCount, "public": "", "unreadId": nil, "userCounter": len(chat.Members),
	}}}, nil
}

// botList is imbot.bot.list: the portal's registered chat bots, keyed by
// id. The page documents no parameters (imbot-bot-list.md).
func (p *Portal) botList(who caller, params map[string]any) (answer, *apiError) {
	out := map[string]any{}
	for _, b := range p.bots {
		name := ""
		if u := p.users[b.ID]; u != nil {
			name = u.Name
		}
		out[strconv.Itoa(b.ID)] = map[string]any{"ID": b.ID, "NAME": name, "CODE": "bot" + strconv.Itoa(b.ID), "OPENLINE": "N"}
	}
	if len(out) == 0 {
		return answer{result: []any{}}, nil
	}
	return answer{result: out}, nil
}
