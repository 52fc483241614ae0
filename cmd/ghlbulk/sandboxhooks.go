package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// webhookFlags are the sandbox's webhook flags.
type webhookFlags struct {
	url    string
	keyOut string
}

func (w *webhookFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&w.url, "webhook-url", "", "send HighLevel's signed webhooks for every write to this URL (e.g. ghlbulk listen's http://127.0.0.1:8090/webhooks/highlevel)")
	fl.StringVar(&w.keyOut, "webhook-key-out", "", "write the public keys the webhooks are signed with (PEM, made per start) to this file, for 'ghlbulk listen --public-key'")
}

// writeKeys checks the flags and writes the public keys where asked.
func (w *webhookFlags) writeKeys(srv *sandbox.Server) error {
	if w.url == "" {
		if w.keyOut != "" {
			return errors.New("--webhook-key-out needs --webhook-url: without it no webhook is signed")
		}
		return nil
	}
	if u, err := url.Parse(w.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--webhook-url %q: want an http(s) URL such as http://127.0.0.1:8090/webhooks/highlevel", w.url)
	}
	if w.keyOut == "" {
		return nil
	}
	if err := fsx.WriteFile(w.keyOut, srv.WebhookPublicKeys()); err != nil {
		return fmt.Errorf("--webhook-key-out %s: %w", w.keyOut, err)
	}
	return nil
}
