package bitrix_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

func ids(users []bitrix.DialogUser) []int {
	out := make([]int, len(users))
	for i, u := range users {
		out[i] = int(u.ID)
	}
	return out
}

func TestDialogUsersOffsetMode(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	ctx := context.Background()

	// The docs' example: chat2935 with SKIP_EXTERNAL=Y gives the three people, not the bot or the e-mail guest.
	page, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935", SkipExternal: true, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page.Users); !slices.Equal(got, []int{1269, 99, 1271}) {
		t.Fatalf("users = %v", got)
	}
	if page.Total == nil || *page.Total != 3 || page.Next != nil {
		t.Fatalf("total=%v next=%v, want 3 and none", page.Total, page.Next)
	}
	u := page.Users[0]
	if !u.Phones.Valid || u.Phones.V.PersonalMobile != "+19165554419" || u.Idle.Valid || u.MobileLastDate.Valid {
		t.Fatalf("false-for-unset fields decoded wrong: %+v", u)
	}

	// Keeping bots: the bot comes back, the e-mail guest does not.
	page, err = c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935", KeepExternalTypes: []string{"bot"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page.Users); !slices.Equal(got, []int{1269, 99, 1271, 456}) {
		t.Fatalf("keep bot: users = %v", got)
	}

	// Paging a generated chat: inactive users never appear, next is offset+returned.
	var all []int
	offset := 0
	for {
		page, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat9001", Limit: 200, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Users {
			if u.Active == nil || !*u.Active {
				t.Fatalf("inactive user %d listed", u.ID)
			}
		}
		all = append(all, ids(page.Users)...)
		if page.Next == nil {
			if *page.Total != len(all) {
				t.Fatalf("total %d, collected %d", *page.Total, len(all))
			}
			break
		}
		if *page.Next != offset+len(page.Users) {
			t.Fatalf("next = %d, want %d", *page.Next, offset+len(page.Users))
		}
		offset = *page.Next
	}
	// 450 generated + owner + bot, less 11 dismissed (every 40th).
	if len(all) != 450+2-11 {
		t.Fatalf("collected %d users", len(all))
	}
}

func TestDialogUsersKeysetMode(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	ctx := context.Background()
	last := 0
	var all []int
	pages := 0
	for {
		lid := last
		page, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat9001", Limit: 100, LastID: &lid})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.Total != nil || page.Next != nil {
			t.Fatal("keyset mode must carry no total and no next")
		}
		all = append(all, ids(page.Users)...)
		if len(page.Users) < 100 {
			break
		}
		last = int(page.Users[len(page.Users)-1].ID)
	}
	if !slices.IsSorted(all) || len(all) != 441 || pages != 5 {
		t.Fatalf("keyset: %d users in %d pages, sorted=%v", len(all), pages, slices.IsSorted(all))
	}
}

func TestDialogUsersErrorsAndPrivateDialog(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	ctx := context.Background()
	_, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: ""})
	if e := wantCode(t, err, "DIALOG_ID_EMPTY"); e.HTTPStatus != 400 || e.Method != bitrix.MethodDialogUsersList {
		t.Fatalf("got %+v", e)
	}
	_, err = c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat424242"})
	if e := wantCode(t, err, "ACCESS_ERROR"); e.HTTPStatus != 403 || !bitrix.IsAccessDenied(err) {
		t.Fatalf("got %+v", e)
	}
	_, err = c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat3000"})
	if e := wantCode(t, err, "ACCESS_ERROR"); e.HTTPStatus != 400 {
		t.Fatalf("got %+v", e)
	}
	page, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "99"})
	if err != nil || !slices.Equal(ids(page.Users), []int{1269, 99}) {
		t.Fatalf("private dialog: %v %v", err, page)
	}
	page, err = c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "sg12"})
	if err != nil || !slices.Equal(ids(page.Users), []int{1269, 3001, 99}) {
		t.Fatalf("sg12: %v %v", err, page)
	}
}

func TestChatUserAdd(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	ctx := context.Background()
	// 1291 is new, 99 already a member, 1300 dismissed, 777777 unknown: still true.
	if err := c.ChatUserAdd(ctx, 2935, []int{1291, 99, 1300, 777777}, false); err != nil {
		t.Fatal(err)
	}
	members := p.Members(2935)
	if !slices.Contains(members, 1291) || slices.Contains(members, 1300) || slices.Contains(members, 777777) {
		t.Fatalf("members = %v", members)
	}
	if p.HiddenHistory(2935, 1291) {
		t.Fatal("HIDE_HISTORY=N must show history")
	}
	if err := c.ChatUserAdd(ctx, 2935, []int{1019}, true); err != nil || !p.HiddenHistory(2935, 1019) {
		t.Fatalf("hide history: %v", err)
	}
	for _, tc := range []struct {
		chat   int
		code   string
		status int
	}{
		{0, "CHAT_ID_EMPTY", 400},
		{13, "ACCESS_ERROR", 403},         // general chat: "Action unavailable"
		{77, "ACCESS_ERROR", 403},         // forbidden to add
		{74, "ACCESS_DENIED_EXTEND", 400}, // managers only
		{3000, "ACCESS_ERROR", 403},       // not a member
	} {
		err := c.ChatUserAdd(ctx, tc.chat, []int{1291}, true)
		if e := wantCode(t, err, tc.code); e.HTTPStatus != tc.status {
			t.Fatalf("chat %d: status %d", tc.chat, e.HTTPStatus)
		}
	}
}

func TestBotMethods(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	ctx := context.Background()

	got, err := c.BotChatUserIDs(ctx, 2725, 456)
	if err != nil || !slices.Equal(got, []int{1269, 1271, 1291, 456, 1300, 2002}) {
		t.Fatalf("v1: %v %v", got, err)
	}
	got, err = c.BotChatUserIDs(ctx, 2725, 0) // the app's first bot
	if err != nil || len(got) != 6 {
		t.Fatalf("v1 default bot: %v %v", got, err)
	}
	if got, err := c.BotChatUserIDs(ctx, 2935, 456); err != nil || len(got) == 0 {
		t.Fatalf("v1 member chat: %v %v", got, err)
	}
	if got, err := c.BotChatUserIDs(ctx, 3000, 456); err != nil || len(got) != 0 {
		t.Fatalf("v1 bot not in chat must give []: %v %v", got, err)
	}
	_, err = c.BotChatUserIDs(ctx, 2725, 457)
	wantCode(t, err, "APP_ID_ERROR")
	_, err = c.BotChatUserIDs(ctx, 2725, 999)
	wantCode(t, err, "BOT_ID_ERROR")
	_, err = c.BotChatUserIDs(ctx, 0, 456)
	wantCode(t, err, "CHAT_ID_EMPTY")
	noClientID := webhookClient(t, p, func(c *bitrix.Config) { c.BotClientID = "" })
	_, err = noClientID.BotChatUserIDs(ctx, 2725, 456)
	wantCode(t, err, "ACCESS_DENIED")

	users, err := c.BotChatUsers(ctx, 456, "chat2725", 200)
	if err != nil || len(users) != 6 || users[0].FirstName != "Alexander" {
		t.Fatalf("v2: %v %v", users, err)
	}
	users, err = c.BotChatUsers(ctx, 456, "chat9001", 500) // out of range: 50, not 200
	if err != nil || len(users) != 50 {
		t.Fatalf("v2 limit fallback: %d %v", len(users), err)
	}
	_, err = c.BotChatUsers(ctx, 456, "chat3000", 10)
	wantCode(t, err, "ACCESS_DENIED")
	noToken := webhookClient(t, p, func(c *bitrix.Config) { c.BotToken = "" })
	_, err = noToken.BotChatUsers(ctx, 456, "chat2725", 10)
	wantCode(t, err, "BOT_TOKEN_NOT_SPECIFIED")
	_, err = c.BotChatUsers(ctx, 457, "chat2725", 10)
	wantCode(t, err, "BOT_OWNERSHIP_ERROR")
	_, err = c.BotChatUsers(ctx, 0, "chat2725", 10)
	wantCode(t, err, "BOT_ID_REQUIRED")
	_, err = c.BotChatUsers(ctx, 4242, "chat2725", 10)
	wantCode(t, err, "BOT_NOT_FOUND")

	chat, err := c.BotChat(ctx, 456, "chat5")
	if err != nil {
		t.Fatal(err)
	}
	if chat.Name != "Support Chat" || chat.UserCounter != 3 || chat.Role != "owner" || chat.LastMessageID.V != 789 || chat.Color.V != "#4ba984" {
		t.Fatalf("chat5: %+v", chat)
	}
	_, err = c.BotChat(ctx, 456, "chat3000") // HTTP 400, as chat-get.md documents it
	if e := wantCode(t, err, "ACCESS_DENIED"); e.HTTPStatus != 400 {
		t.Fatal(e)
	}
	priv, err := c.BotChat(ctx, 456, "99")
	if err != nil || priv.Type != "private" || priv.DialogID != "99" {
		t.Fatalf("private: %+v %v", priv, err)
	}

	// OAuth needs neither CLIENT_ID nor botToken, but the bot must be the app's.
	o := oauthClient(t, p)
	if got, err := o.BotChatUserIDs(ctx, 2725, 0); err != nil || len(got) != 6 {
		t.Fatalf("oauth v1: %v %v", got, err)
	}
	if _, err := o.BotChat(ctx, 456, "chat5"); err != nil {
		t.Fatal(err)
	}
	_, err = o.BotChat(ctx, 457, "chat5")
	wantCode(t, err, "BOT_OWNERSHIP_ERROR")
}

func TestBatchMixed(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	p.ResetStats()
	res, err := c.Batch(context.Background(), []bitrix.BatchCommand{
		{Key: "page0", Method: bitrix.MethodDialogUsersList, Params: bitrix.DialogUsersQuery{DialogID: "chat9001", Limit: 200}.Params()},
		{Key: "page1", Method: bitrix.MethodDialogUsersList, Params: bitrix.DialogUsersQuery{DialogID: "chat9001", Limit: 200, Offset: 200}.Params()},
		{Key: "denied", Method: bitrix.MethodDialogUsersList, Params: bitrix.DialogUsersQuery{DialogID: "chat3000"}.Params()},
		{Key: "add", Method: bitrix.MethodChatUserAdd, Params: bitrix.ChatUserAddParams(2935, []int{1291, 1019}, true)},
		{Key: "keep", Method: bitrix.MethodDialogUsersList, Params: bitrix.DialogUsersQuery{DialogID: "chat2935", KeepExternalTypes: []string{"bot", "email"}}.Params()},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Requests != 1 {
		t.Fatalf("a batch is one request, saw %d", st.Requests)
	}
	if e := res.Errors["denied"]; e == nil || e.Code != "ACCESS_ERROR" {
		t.Fatalf("denied: %+v", res.Errors)
	}
	page1, err := c.DecodeDialogUsers(res.Results["page1"], bitrix.DialogUsersQuery{DialogID: "chat9001", Limit: 200, Offset: 200})
	if err != nil || len(page1.Users) != 200 || page1.Total == nil || *page1.Total != 441 || *page1.Next != 400 {
		t.Fatalf("page1: %v", err)
	}
	var ok bool
	if json.Unmarshal(res.Results["add"].Result, &ok); !ok || !slices.Contains(p.Members(2935), 1019) {
		t.Fatal("add inside batch (USERS[] encoding) did not add")
	}
	keep, _ := c.DecodeDialogUsers(res.Results["keep"], bitrix.DialogUsersQuery{DialogID: "chat2935"})
	if len(keep.Users) != 7 { // 5 members + 2 just added; bot and e-mail guest kept
		t.Fatalf("keep: %v", ids(keep.Users))
	}

	// Over 50 commands is refused before sending.
	cmds := make([]bitrix.BatchCommand, 51)
	for i := range cmds {
		cmds[i] = bitrix.BatchCommand{Key: "k" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Method: "scope"}
	}
	if _, err := c.Batch(context.Background(), cmds, false); err != bitrix.ErrTooManyCommands {
		t.Fatalf("51 commands: %v", err)
	}
}

func TestBatchHaltAndEmptySections(t *testing.T) {
	p := startPortal(t)
	c := webhookClient(t, p)
	// Sequential numeric keys come back as arrays and empty sections as [].
	res, err := c.Batch(context.Background(), []bitrix.BatchCommand{
		{Key: "0", Method: "scope"},
		{Key: "1", Method: "user.current"},
	}, false)
	if err != nil || len(res.Results) != 2 || len(res.Errors) != 0 {
		t.Fatalf("%v %+v", err, res)
	}
	res, err = c.Batch(context.Background(), []bitrix.BatchCommand{
		{Key: "a", Method: bitrix.MethodDialogUsersList, Params: bitrix.Params{"DIALOG_ID": ""}},
		{Key: "b", Method: "scope"},
	}, true)
	if err != nil || len(res.Errors) != 1 || len(res.Results) != 0 {
		t.Fatalf("halt: %v %+v", err, res)
	}
}

func TestPHPQuery(t *testing.T) {
	got := bitrix.PHPQuery(bitrix.Params{"CHAT_ID": 5, "USERS": []int{1, 2}, "order": map[string]any{"id": "DESC"}, "name": "a b&c"})
	want := "CHAT_ID=5&USERS[]=1&USERS[]=2&name=a+b%26c&order[id]=DESC"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
