// Package spec embeds HighLevel's own OpenAPI files (CC0, copied unchanged
// from GoHighLevel/highlevel-api-docs at commit 0af86a4cbd48; see LICENSE)
// so that the sandbox and the conformance tests validate against the same
// bytes wherever the binary runs. The layout keeps the files' relative
// $refs (../common/common-schemas.json) resolvable.
package spec

import "embed"

// FS holds apps/*.json (contacts, locations, oauth, calendars),
// common/common-schemas.json and docs/*.md.
//
//go:embed apps common docs LICENSE
var FS embed.FS
