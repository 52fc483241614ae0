package sinks

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// The reused encoders must write exactly what Arrow's own codec writes, at
// every level Parquet writers ask for, and read back to the input.
func TestReusedZstdSameBytes(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(reusedZstd); !ok {
		t.Fatalf("the zstd codec registered is %T, want reusedZstd", c)
	}
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, 200<<10)
	for i := range src {
		src[i] = "abcdefgh, \n"[r.IntN(11)] // compressible, like column pages
	}
	for _, level := range []int{compress.DefaultCompressionLevel, 1, 3, 7} {
		want := arrowEncodeLevel(t, src, level)
		for range 3 { // reused, not only the first time
			got := c.EncodeLevel(nil, src, level)
			if !bytes.Equal(got, want) {
				t.Fatalf("level %d: %d bytes, Arrow's codec gives %d", level, len(got), len(want))
			}
		}
		if back := c.Decode(nil, want); !bytes.Equal(back, src) {
			t.Fatalf("level %d: does not read back", level)
		}
	}
}

// arrowEncodeLevel is what Arrow v17's zstdCodec.EncodeLevel does.
func arrowEncodeLevel(t *testing.T, src []byte, level int) []byte {
	l := zstd.EncoderLevelFromZstd(level)
	if level == compress.DefaultCompressionLevel {
		l = zstd.SpeedDefault
	}
	enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(l))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(src, nil)
}
