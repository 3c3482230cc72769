// Command jaminan is the single binary of the Jaminan ledger.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: jaminan <command>\n\ncommands: devnet (not built yet)\n\ntry: jaminan devnet")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "devnet":
		fmt.Fprintln(os.Stderr, "jaminan devnet: not built yet — the node, p2p and consensus packages land in later issues; the ledger core is in ./ledger")
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "jaminan: unknown command %q\n\ntry: jaminan devnet\n", os.Args[1])
		os.Exit(2)
	}
}
