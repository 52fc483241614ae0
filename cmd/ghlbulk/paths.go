package main

// One rule for every command that writes files beside the ones it reads:
// no output path may name an input (a rejects file called like the input
// would replace the contacts it was to import) or another output. It is
// checked before anything is opened for writing, and refused with exit 2.

import (
	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// checkPaths is import's and validate's check (contacts, notes or tasks):
// the input files, the mapping, the token file and, for --kind
// notes|tasks, the ID map are read; the rejects, report, plan, state and,
// for a contacts import, the ID map are written. A dry run writes no
// state and no ID map.
func (o *importOptions) checkPaths(f *factory) error {
	ins := make([]fsx.Named, 0, len(o.files)+3)
	for _, file := range o.files {
		ins = append(ins, fsx.Named{Name: "input file", Path: file})
	}
	ins = append(ins, fsx.Named{Name: "--mapping", Path: o.mapping})
	ins = append(ins, f.tokenFileNamed()...)
	outs := []fsx.Named{
		{Name: "--rejects", Path: o.rejects},
		{Name: "--report", Path: o.report},
		{Name: "--plan-out", Path: o.planOut},
	}
	switch {
	case o.related():
		ins = append(ins, fsx.Named{Name: "--id-map", Path: o.plan.idMap})
	case !o.dryRun:
		outs = append(outs, fsx.Named{Name: "--id-map", Path: o.plan.idMap})
	}
	if !o.dryRun {
		outs = append(outs, fsx.Named{Name: "--state", Path: o.state})
	}
	return fsx.CheckOutputs(ins, outs)
}

// checkStateReport is the check of export and undo: --report must not
// name the state (nor the token file).
func checkStateReport(f *factory, state, report string) error {
	return fsx.CheckOutputs(f.tokenFileNamed(),
		[]fsx.Named{{Name: "--state", Path: state}, {Name: "--report", Path: report}})
}

// tokenFileNamed is the OAuth token store, which no output may replace;
// none when its path can't be told (no home directory).
func (f *factory) tokenFileNamed() []fsx.Named {
	p, err := f.authOptions().TokenFilePath()
	if err != nil || p == "" {
		return nil
	}
	return []fsx.Named{{Name: "the token file", Path: p}}
}

// checkPaths is verify's check: --diff must not name an input file, the
// mapping or the state it reads.
func (o *verifyOptions) checkPaths(f *factory, state string) error {
	ins := []fsx.Named{{Name: "--mapping", Path: o.mapping}, {Name: "--state", Path: state}}
	for _, file := range o.files {
		ins = append(ins, fsx.Named{Name: "input file", Path: file})
	}
	return fsx.CheckOutputs(append(ins, f.tokenFileNamed()...), []fsx.Named{{Name: "--diff", Path: o.diff}})
}
