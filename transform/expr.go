package transform

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// exprFuncs are the functions a mapping's expressions may call, besides
// expr-lang's builtins (trim, lower, upper, split, join, hasPrefix, ...).
// Each returns "" rather than failing on a value it can't read, so an
// expression stays usable on messy data; the normalizers report problems.
func (c *compiler) exprOptions() []expr.Option {
	region := c.spec.phoneRegion
	loc, order := c.spec.loc, c.spec.dateOrder
	str := func(a any) string { s, _ := a.(string); return s }
	return []expr.Option{
		expr.Env(newEnv()),
		expr.Patch(budget{}),
		expr.Function("normalize_phone", func(p ...any) (any, error) {
			r := region
			if len(p) > 1 {
				r = strings.ToUpper(str(p[1]))
			}
			s, err := NormalizePhone(str(p[0]), r)
			if err != nil {
				return "", nil
			}
			return s, nil
		}, new(func(string) string), new(func(string, string) string)),
		expr.Function("normalize_email", func(p ...any) (any, error) {
			s, err := NormalizeEmail(str(p[0]))
			if err != nil {
				return "", nil
			}
			return s, nil
		}, new(func(string) string)),
		expr.Function("normalize_name", func(p ...any) (any, error) {
			return NormalizeName(str(p[0])), nil
		}, new(func(string) string)),
		expr.Function("parse_date", func(p ...any) (any, error) {
			t, err := ParseDateOrder(str(p[0]), loc, order)
			if err != nil {
				return "", nil
			}
			return formatTime(t), nil
		}, new(func(string) string)),
		expr.Function("day", func(p ...any) (any, error) {
			t, err := ParseDateOrder(str(p[0]), loc, order)
			if err != nil {
				return "", nil
			}
			return formatDay(t), nil
		}, new(func(string) string)),
		expr.Function("add_days", func(p ...any) (any, error) {
			t, err := ParseDateOrder(str(p[0]), loc, order)
			if err != nil {
				return "", nil
			}
			return formatTime(t.AddDate(0, 0, p[1].(int))), nil
		}, new(func(string, int) string)),
		expr.Function("coalesce", func(p ...any) (any, error) {
			for _, a := range p {
				if s := strings.TrimSpace(str(a)); s != "" {
					return s, nil
				}
			}
			return "", nil
		}, new(func(...string) string)),
		expr.Function("blank", func(p ...any) (any, error) {
			return strings.TrimSpace(str(p[0])) == "", nil
		}, new(func(string) bool)),
	}
}

// budget charges an expression's loops and the strings it builds to
// expr's memory budget (vm.MemoryBudget, 1e6 by default), which expr
// itself only charges for ranges, arrays, maps and repeat(), so that every
// expression ends, soon, on every row: each pass of a closure (all, count,
// map, filter, reduce...) costs 1, and each string a + or a builtin returns
// costs its length. Without it `let a = 0..999; count(a, count(a, count(a,
// true) == 1000) == 1000)` runs for minutes, and a + of a long string with
// itself, repeated, runs out of memory; with it the row is rejected with
// "memory budget exceeded". The charge is repeat(x, 1): the one builtin
// that reports what it allocates, it returns x itself, at no cost.
type budget struct{}

func (budget) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.PredicateNode:
		if seq, ok := x.Node.(*ast.SequenceNode); ok && len(seq.Nodes) == 2 && isCharge(seq.Nodes[0]) {
			return // charged already
		}
		x.Node = &ast.SequenceNode{Nodes: []ast.Node{charge(&ast.StringNode{Value: " "}), x.Node}}
	case *ast.BinaryNode:
		if x.Operator == "+" && isString(x) {
			ast.Patch(n, charge(x))
		}
	case *ast.BuiltinNode:
		if x.Name != "repeat" && isString(x) {
			ast.Patch(n, charge(x))
		}
	}
}

func charge(s ast.Node) ast.Node {
	return &ast.BuiltinNode{Name: "repeat", Arguments: []ast.Node{s, &ast.IntegerNode{Value: 1}}}
}

func isCharge(n ast.Node) bool { b, ok := n.(*ast.BuiltinNode); return ok && b.Name == "repeat" }

func isString(n ast.Node) bool { t := n.Type(); return t != nil && t.Kind() == reflect.String }

var ourFuncs = []string{"normalize_phone", "normalize_email", "normalize_name", "parse_date", "day", "add_days", "coalesce", "blank"}

var envNames = []string{"col", "row", "file"}

// newEnv is the environment expressions run in: col (the row's source
// values by column name), row (its 1-based number) and file.
func newEnv() map[string]any {
	return map[string]any{"col": map[string]string{}, "row": int64(0), "file": ""}
}

// exprRefs is what an expression reads.
type exprRefs struct {
	columns []*ast.StringNode // col["X"]
	dynamic bool              // col[something computed]: fill every column
	unknown []*ast.IdentifierNode
}

type refVisitor struct{ refs *exprRefs }

func (v refVisitor) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.MemberNode:
		if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "col" {
			if s, ok := x.Property.(*ast.StringNode); ok {
				v.refs.columns = append(v.refs.columns, s)
			} else {
				v.refs.dynamic = true
			}
		}
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			if !contains(ourFuncs, id.Value) {
				if _, ok := builtin.Index[id.Value]; !ok {
					v.refs.unknown = append(v.refs.unknown, id)
				}
			}
		}
	}
}

// compileExpr lints and compiles one expression. want is the result type:
// "string", "bool" or "any".
func (c *compiler) compileExpr(v valueSpec, want string) *vm.Program {
	tree, err := exprparser.Parse(v.text)
	if err != nil {
		c.lintAt(v.line, v.col, "bad expression %s: %s", quoteExpr(v.text), exprMessage(err))
		return nil
	}
	refs := &exprRefs{}
	ast.Walk(&tree.Node, refVisitor{refs})
	bad := false
	for _, id := range refs.unknown {
		cands := append(append([]string(nil), ourFuncs...), builtin.Names...)
		c.lintAt(v.line, v.col, "unknown function %q%s", id.Value, didYouMean(id.Value, cands, "functions: "+strings.Join(ourFuncs, ", ")+" and expr-lang's builtins"))
		bad = true
	}
	for _, s := range refs.columns {
		if _, ok := c.colIdx[s.Value]; ok {
			c.needCol(s.Value)
			continue
		}
		if c.spec.optional[s.Value] {
			continue
		}
		c.lintAt(v.line, v.col, "unknown column %q in expression%s", s.Value, didYouMean(s.Value, c.header, "not in the file's header; list it under optional_columns: if it may be missing"))
		bad = true
	}
	if refs.dynamic {
		c.allCols = true
	}
	if bad {
		return nil
	}
	opts := c.exprOptions()
	switch want {
	case "bool":
		opts = append(opts, expr.AsBool())
	case "any":
		opts = append(opts, expr.AsAny())
	}
	prog, err := expr.Compile(v.text, opts...)
	if err != nil {
		c.lintAt(v.line, v.col, "bad expression %s: %s", quoteExpr(v.text), exprMessage(err))
		return nil
	}
	return prog
}

func quoteExpr(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}

func exprMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		if strings.HasPrefix(msg, "unknown name ") {
			name := strings.TrimPrefix(msg, "unknown name ")
			return fmt.Sprintf("unknown name %s at column %d (names are col, row and file; a column is col[\"Name\"])", name, fe.Column+1)
		}
		return fmt.Sprintf("%s at column %d", msg, fe.Column+1)
	}
	return err.Error()
}

// stringOf turns an expression result into text; nil is blank.
func stringOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return formatTime(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, stringOf(e))
		}
		return strings.Join(parts, ", ")
	case []string:
		return strings.Join(x, ", ")
	}
	return fmt.Sprint(v)
}

// stringsOf turns a tag expression's result into tags.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, stringOf(e))
		}
		return out
	case []string:
		return x
	}
	return []string{stringOf(v)}
}
