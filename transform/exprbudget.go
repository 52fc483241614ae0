package transform

import "github.com/expr-lang/expr"

// ExprBudget is the option that bounds an expression's loops and the
// strings it builds (see budget), for other expressions written in the
// mappings' language (listen's rules): every one ends, soon, on every
// event.
func ExprBudget() expr.Option { return expr.Patch(budget{}) }
