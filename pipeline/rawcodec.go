package pipeline

import (
	"encoding/json"
	"unicode/utf8"
)

// A row's source values (and a file's header) are kept in the state as
// JSON. JSON strings are UTF-8: encoding/json turns each invalid byte into
// U+FFFD, so a Latin-1 "é" (0xE9) read from a file saved in the wrong
// encoding would come back out of the state, into the rejects file, as
// "\uFFFD", and the bytes the user has to fix would be lost (a dry run,
// which keeps its rejects in memory, wrote them as read). So values that
// are not all UTF-8 are kept as base64 in an object instead; the usual
// case stays the readable array it always was, and states written before
// read as they did.

// rawBytes is the form of values that are not all valid UTF-8.
type rawBytes struct {
	B [][]byte `json:"b64"`
}

// encodeStrings is the state's text for values, byte for byte.
func encodeStrings(values []string) string {
	valid := true
	for _, v := range values {
		if !utf8.ValidString(v) {
			valid = false
			break
		}
	}
	if valid {
		b, _ := json.Marshal(values)
		return string(b)
	}
	rb := rawBytes{B: make([][]byte, len(values))}
	for i, v := range values {
		rb.B[i] = []byte(v)
	}
	b, _ := json.Marshal(rb)
	return string(b)
}

// decodeStrings reads encodeStrings' text; nil for text it cannot read.
func decodeStrings(text string) []string {
	if len(text) > 0 && text[0] == '{' {
		var rb rawBytes
		if json.Unmarshal([]byte(text), &rb) != nil {
			return nil
		}
		out := make([]string, len(rb.B))
		for i, b := range rb.B {
			out[i] = string(b)
		}
		return out
	}
	var out []string
	_ = json.Unmarshal([]byte(text), &out)
	return out
}
