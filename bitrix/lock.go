package bitrix

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// lockFile takes an exclusive lock on path (created 0600 when missing),
// waiting until ctx ends. Every process sharing a token file refreshes under
// this lock, so exactly one of them rotates the pair. tryLock and unlock are
// the platform's (lock_unix.go, lock_windows.go).
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	// The default token file's folder (the user's config directory) may not
	// exist yet on a fresh machine: make it, private, before the first lock.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if locked {
			return func() {
				unlockFile(f)
				f.Close()
			}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
