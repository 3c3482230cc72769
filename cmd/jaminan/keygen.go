package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/jaminan/jaminan/keyfile"
)

func runKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to create (never overwritten)")
	pepper := fs.Bool("pepper", false, "create the network pepper instead of a key (secret, shared by the network's bureaus)")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if *out == "" || fs.NArg() > 0 {
		return exitUsage{fmt.Errorf("usage: jaminan keygen [--pepper] --out FILE")}
	}
	if *pepper {
		if err := keyfile.GeneratePepper(*out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pepper written to %s\n", *out)
		return nil
	}
	s, err := keyfile.Generate(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", s.ID())
	return nil
}
