package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fzipp/gocyclo"
)

const module = "github.com/ghlbulk/ghlbulk/"

// floors are docs/design.md's floors, bottom first. A package may import
// packages on its own floor or below, never above. The longest matching
// prefix decides a package's floor.
var floors = []struct {
	floor    int
	prefixes []string
}{
	{0, []string{"internal", "ghl/spec"}},
	{1, []string{"ghl", "ghl/pace", "ghl/sandbox", "auth", "record", "objstore"}},
	{2, []string{"sources", "sinks", "transform"}},
	{3, []string{"pipeline"}},
	{4, []string{"jobs"}},
	{5, []string{"cmd", "scripts", "internal/archtest"}},
}

func floorOf(pkg string) (int, bool) {
	best, floor := -1, 0
	for _, f := range floors {
		for _, p := range f.prefixes {
			if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > best {
				best, floor = len(p), f.floor
			}
		}
	}
	return floor, best >= 0
}

// TestFloors: no import runs from a lower floor to a higher one, and every
// package of the module has a floor.
func TestFloors(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		from, ok := floorOf(pkg)
		if !ok {
			t.Errorf("package %s has no floor: add it to floors here and in docs/design.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if to, _ := floorOf(dep); to > from {
				t.Errorf("%s (floor %d) imports %s (floor %d): an import runs upward", pkg, from, dep, to)
			}
		}
	}
}

// The issue that set these limits: no production function over 80 lines
// outside the sandbox (whose handlers mirror the API's long request
// schemas), at most 5 over cyclomatic complexity 20 anywhere.
const (
	maxLines      = 80
	maxComplex    = 20
	maxOverComplx = 5
)

// TestFunctionSize: production functions fit on a screen and few branch
// more than 20 ways.
func TestFunctionSize(t *testing.T) {
	fset := token.NewFileSet()
	var stats gocyclo.Stats
	var long []string
	err := filepath.WalkDir(repoRoot(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		stats = gocyclo.AnalyzeASTFile(f, fset, stats)
		if strings.Contains(filepath.ToSlash(path), "/ghl/sandbox/") {
			return nil
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxLines {
					long = append(long, fmt.Sprintf("%s %s: %d lines", fset.Position(fd.Pos()), fd.Name.Name, n))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range long {
		t.Errorf("over %d lines: %s", maxLines, l)
	}
	var complex []string
	for _, s := range stats {
		if s.Complexity > maxComplex {
			complex = append(complex, s.String())
		}
	}
	sort.Strings(complex)
	if len(complex) > maxOverComplx {
		t.Errorf("%d functions over cyclomatic complexity %d (at most %d):\n%s", len(complex), maxComplex, maxOverComplx, strings.Join(complex, "\n"))
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}
