//go:build tools

// Package deps pins modules that are chosen for the project but not yet
// imported everywhere, so that `go mod tidy` keeps them in go.mod.
package deps

import (
	_ "github.com/apache/arrow/go/v17/parquet/pqarrow"
	_ "github.com/expr-lang/expr"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/sourcegraph/conc/pool"
	_ "github.com/spf13/cobra"
	_ "github.com/xitongsys/parquet-go/writer"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/term"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
