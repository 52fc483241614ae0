package objstore

// The drivers, each registering its URL scheme with blob's default mux.
// Each reads credentials from its cloud's own chain (see open.go).
import (
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/fileblob"  // file://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
)
