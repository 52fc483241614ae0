package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
)

// FileFingerprint identifies a file by its size and the SHA-256 of its
// first and last MiB (mtime-free, so a copy of the same file matches). It
// is the fallback when ImportConfig.Fingerprint is nil; the CLI passes
// sources.Fingerprint.
func FileFingerprint(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", path, err)
	}
	const mib = 1 << 20
	h := sha256.New()
	h.Write([]byte(strconv.FormatInt(st.Size(), 10) + "\n"))
	if _, err := io.CopyN(h, f, mib); err != nil && err != io.EOF {
		return "", fmt.Errorf("fingerprint %s: %w", path, err)
	}
	if st.Size() > 2*mib {
		if _, err := f.Seek(-mib, io.SeekEnd); err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
		if _, err := io.Copy(h, f); err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
	} else if st.Size() > mib {
		if _, err := io.Copy(h, f); err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
