package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// ServeOptions are what Serve needs beyond the Listener's Options.
type ServeOptions struct {
	Addr             string // HOST:PORT; "" = DefaultAddr
	TLSCert, TLSKey  string // both or neither: serve HTTPS
	Ready            func(url string)
	ShutdownDeadline time.Duration // 0 = 10s: how long in-flight deliveries get to finish
}

// Serve runs a Listener on addr until ctx is done, then stops taking
// deliveries, lets those in flight finish, writes what is queued and
// journals the stop.
func Serve(ctx context.Context, so ServeOptions, opt Options) (stats Stats, err error) {
	if (so.TLSCert == "") != (so.TLSKey == "") {
		return stats, errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	if so.Addr == "" {
		so.Addr = DefaultAddr
	}
	if so.ShutdownDeadline <= 0 {
		so.ShutdownDeadline = 10 * time.Second
	}
	ln, err := net.Listen("tcp", so.Addr)
	if err != nil {
		return stats, fmt.Errorf("--addr %s: %w", so.Addr, err)
	}
	l, err := New(opt)
	if err != nil {
		ln.Close()
		return stats, err
	}
	hs := Server(l.Handler())
	served := make(chan error, 1)
	scheme := "http"
	if so.TLSCert != "" {
		scheme = "https"
		go func() { served <- hs.ServeTLS(ln, so.TLSCert, so.TLSKey) }()
	} else {
		go func() { served <- hs.Serve(ln) }()
	}
	if so.Ready != nil {
		so.Ready(scheme + "://" + ln.Addr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serving %s: %w", so.Addr, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), so.ShutdownDeadline)
	_ = hs.Shutdown(sctx)
	cancel()
	return l.Stats(), errors.Join(err, l.Close())
}
