// Command ghlbulk moves contacts, with their tasks, notes, appointments and
// tags, in and out of HighLevel (API v2) in bulk. See README.md.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
