//go:build genman

package main

// Man pages are generated from the command tree with cobra/doc, built only
// with -tags genman (scripts/genman.sh, the release), so that the shipped
// binary carries neither this command nor cobra/doc's markdown renderer.

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { extraCommands = append(extraCommands, newGenManCmd) }

type genManOptions struct{ f *factory }

func newGenManCmd(f *factory) *cobra.Command {
	o := genManOptions{f: f}
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages (section 1) of every command into DIR",
		Hidden: true,
		Args:   usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenMan(o, cmd.Root(), args[0])
		},
	}
}

func runGenMan(o genManOptions, root *cobra.Command, dir string) error {
	if dir == "" {
		return refused(errors.New("gen-man DIR: give the folder to write the man pages into"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen-man %s: %w", dir, err)
	}
	root.DisableAutoGenTag = true // no date line: the pages change only when the commands do
	header := &doc.GenManHeader{Title: "GHLBULK", Section: "1", Source: "ghlbulk " + currentVersion(), Manual: "ghlbulk manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("gen-man %s: %w", dir, err)
	}
	fmt.Fprintf(o.f.stdout, "man pages written to %s\n", dir)
	return nil
}
