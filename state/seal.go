package state

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The OAuth pair replicas share is a password to the portal: with a key
// (MCP_STATE_KEY) it is kept in Redis sealed with AES-256-GCM, so that a
// copy of the store (a backup, a replica, a curious admin) holds no token.

// sealedPrefix marks a sealed value; an unsealed one (written before a key
// was set) is still read, and sealed on its next write.
const sealedPrefix = "b24seal:v1:"

// ParseKey reads MCP_STATE_KEY: 32 bytes, written as 64 hex characters or
// in base64.
func ParseKey(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	if b, err := hex.DecodeString(raw); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(raw); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("is not a 32-byte key: give 64 hex characters or 32 bytes in base64 (openssl rand -hex 32)")
}

// WithKey seals the stored OAuth pair with key (32 bytes).
func (r *Redis) WithKey(key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	r.aead, err = cipher.NewGCM(block)
	return err
}

// Sealed reports whether the pair is kept sealed.
func (r *Redis) Sealed() bool { return r.aead != nil }

func (r *Redis) seal(plain []byte) ([]byte, error) {
	if r.aead == nil {
		return plain, nil
	}
	nonce := make([]byte, r.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// The key names the portal: a value copied to another portal's key does not open.
	sealed := r.aead.Seal(nonce, nonce, plain, []byte(r.prefix))
	return []byte(sealedPrefix + base64.RawStdEncoding.EncodeToString(sealed)), nil
}

func (r *Redis) open(stored []byte) ([]byte, error) {
	s := string(stored)
	if !strings.HasPrefix(s, sealedPrefix) {
		return stored, nil // written before a key was set
	}
	if r.aead == nil {
		return nil, fmt.Errorf("the OAuth pair in %s is sealed: set MCP_STATE_KEY to the key the replicas use", r)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(s, sealedPrefix))
	n := r.aead.NonceSize()
	if err != nil || len(raw) < n {
		return nil, fmt.Errorf("the OAuth pair in %s is damaged", r)
	}
	plain, err := r.aead.Open(nil, raw[:n], raw[n:], []byte(r.prefix))
	if err != nil {
		return nil, fmt.Errorf("the OAuth pair in %s does not open with MCP_STATE_KEY: another key sealed it", r)
	}
	return plain, nil
}
