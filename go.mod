module github.com/bitrix24-chat-mcp/bitrix24-chat-mcp

go 1.26.8

require github.com/sethvargo/go-retry v0.5.0
