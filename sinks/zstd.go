package sinks

import (
	"sync"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// Arrow v17's zstd codec builds a new encoder for every page it compresses
// (parquet/compress/zstd.go, EncodeLevel), which made pqarrow+zstd the
// slowest Parquet writer we measured (docs/benchmarks.md). reusedZstd keeps
// one encoder per level: EncodeAll is safe for concurrent use and
// deterministic, so the files are byte for byte the same.
type reusedZstd struct{ compress.Codec }

var zstdEncoders sync.Map // zstd.EncoderLevel -> *zstd.Encoder

func (z reusedZstd) EncodeLevel(dst, src []byte, level int) []byte {
	l := zstd.EncoderLevelFromZstd(level)
	if level == compress.DefaultCompressionLevel {
		l = zstd.SpeedDefault
	}
	e, ok := zstdEncoders.Load(l)
	if !ok {
		ne, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(l))
		if err != nil {
			// Options are constants: this can't fail; fall back to Arrow's.
			return z.Codec.EncodeLevel(dst, src, level)
		}
		e, _ = zstdEncoders.LoadOrStore(l, ne)
	}
	return e.(*zstd.Encoder).EncodeAll(src, dst[:0])
}

func init() {
	if c, err := compress.GetCodec(compress.Codecs.Zstd); err == nil {
		compress.RegisterCodec(compress.Codecs.Zstd, reusedZstd{c})
	}
}
