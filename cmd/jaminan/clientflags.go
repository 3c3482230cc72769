package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/node/client"
)

// clientFlags are the flags of the commands that talk to a node's HTTP API.
type clientFlags struct {
	node, token, tokenFile, key *string
	asJSON                      *bool
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		node:      fs.String("node", envOr("JAMINAN_NODE", "http://127.0.0.1:8080"), "the node's HTTP API (env JAMINAN_NODE)"),
		token:     fs.String("token", "", "operator token (env JAMINAN_TOKEN)"),
		tokenFile: fs.String("token-file", "", "file holding the operator token"),
		key:       fs.String("key", "", "sign requests (RFC 9421) with this party key file instead of a token"),
		asJSON:    fs.Bool("json", false, "print the node's JSON answer as is"),
	}
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func (f clientFlags) client() (*client.Client, error) {
	c := client.New(*f.node, *f.token)
	if c.Token == "" {
		c.Token = os.Getenv("JAMINAN_TOKEN")
	}
	if *f.tokenFile != "" {
		raw, err := os.ReadFile(*f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token file: %w", err)
		}
		c.Token = strings.TrimSpace(string(raw))
	}
	if *f.key != "" {
		s, err := keyfile.Read(*f.key)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		c.Token, c.Signer = "", s
	}
	if !strings.HasPrefix(c.Base, "http://") && !strings.HasPrefix(c.Base, "https://") {
		return nil, exitUsage{errors.New("--node: want a URL such as http://127.0.0.1:8080")}
	}
	return c, nil
}
