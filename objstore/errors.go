package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"gocloud.dev/gcerrors"
)

// Error is a failed call on a bucket: where (the URL without its query,
// and the key), what was done, and what to check.
type Error struct {
	URL  string // the bucket's URL as shown: no query, no credentials
	Op   string // open, upload, download, read, write, list, delete
	Key  string // relative to the URL's prefix; "" for the bucket itself
	Code gcerrors.ErrorCode
	Err  error
	// driver is the URL with its query as gocloud was given it; its
	// errors quote it, and Error shows URL in its place.
	driver string
}

func (e *Error) Error() string {
	where := e.URL
	if e.Key != "" {
		where = strings.TrimSuffix(where, "/") + "/" + e.Key
	}
	cause := e.Err.Error()
	if e.driver != "" {
		cause = strings.ReplaceAll(cause, e.driver, e.URL)
	}
	return fmt.Sprintf("%s: %s: %s: %s", where, e.Op, e.advice(), cause)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes a missing object errors.Is(err, fs.ErrNotExist), and a denied
// one fs.ErrPermission.
func (e *Error) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Code == gcerrors.NotFound
	case fs.ErrPermission:
		return e.Code == gcerrors.PermissionDenied
	}
	return false
}

// advice says what went wrong and what to check.
func (e *Error) advice() string {
	scheme, _, _ := strings.Cut(e.URL, "://")
	switch {
	case e.Code == gcerrors.PermissionDenied:
		return "access denied: " + credentialHint(scheme) + ", and that they may " + permissionHint(scheme)
	case e.Code == gcerrors.NotFound && e.Key == "":
		return "not found: check the bucket's name (and for s3 its ?region=)"
	case e.Code == gcerrors.NotFound:
		return "no such object"
	case e.Code == gcerrors.Canceled || e.Code == gcerrors.DeadlineExceeded:
		return "interrupted"
	case looksLikeCredentials(e.Err):
		return "no usable credentials: " + credentialHint(scheme)
	}
	return "failed: check the URL, the network and " + credentialHint(scheme)[len("check "):]
}

// looksLikeCredentials tells a missing or rejected credential from other
// failures. The SDKs give no common type for it, so this matches their
// words; it only chooses the advice, never what happens next.
func looksLikeCredentials(err error) bool {
	s := strings.ToLower(err.Error())
	for _, w := range []string{"credential", "signature", "invalidaccesskeyid", "authoriz", "unauthenticated", "token"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// credentialHint names where each cloud's SDK looks for credentials.
func credentialHint(scheme string) string {
	switch scheme {
	case "s3":
		return "check the AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, or the instance or pod role)"
	case "gs":
		return "check the Google credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, or the workload identity)"
	case "azblob":
		return "check the Azure credentials (AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or az login / a managed identity)"
	}
	return "check the folder's permissions"
}

// permissionHint names the permissions an export needs on the bucket.
func permissionHint(scheme string) string {
	switch scheme {
	case "s3":
		return "s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it"
	case "gs":
		return "list, get, create and delete its objects (roles/storage.objectAdmin)"
	case "azblob":
		return "list, read, write and delete its blobs (Storage Blob Data Contributor)"
	}
	return "read and write it"
}

// fail wraps err from a call on key. A cancelled context is passed on as
// it is, so callers tell an interruption with errors.Is(err, ctx.Err()).
func (b *Bucket) fail(op, key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s/%s: %s: %w", b.shown, key, op, err)
	}
	return &Error{URL: b.shown, Op: op, Key: key, Code: gcerrors.Code(err), Err: err, driver: b.driver}
}
