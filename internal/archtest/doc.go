// Package archtest holds no code: its tests check the shape of the module,
// the floors of docs/design.md (no package imports one on a higher floor)
// and the size of its functions, so that the layout a newcomer reads there
// stays true.
package archtest
