package auth

import (
	"context"
	"strings"
)

// Refresh refreshes the stored token now, whatever its expiry, and saves
// the rotated pair (locked and atomic, as every refresh). It is for one
// place to keep a shared login fresh: a fleet whose pods each copy the
// token file must never refresh it themselves, or all but one would spend
// the same rotating refresh token (deploy/kubernetes).
func Refresh(ctx context.Context, opt Options) (Info, error) {
	if strings.TrimSpace(opt.getenv(EnvToken)) != "" {
		return Info{}, &CredentialsError{Reason: "GHL_TOKEN is set: a token from the environment cannot be refreshed",
			Fix: "unset GHL_TOKEN to refresh the token file that 'ghlbulk auth login' wrote"}
	}
	path, err := opt.tokenFilePath()
	if err != nil {
		return Info{}, &CredentialsError{Reason: "no HighLevel token", Fix: fixLogin, Err: err}
	}
	s, err := OpenFileSource(ctx, path, opt)
	if err != nil {
		return Info{}, err
	}
	if !s.Info().CanRefresh {
		return Info{}, &CredentialsError{Reason: "the token at " + path + " cannot be refreshed: it holds no refresh token, or the app's client secret is not set",
			Fix: "set GHL_CLIENT_ID and GHL_CLIENT_SECRET (or --client-file) as for 'ghlbulk auth login', or log in again"}
	}
	// Marked refused, the current access token is replaced at once (unless
	// another process refreshed it since we read the file: then theirs is
	// kept, which is as fresh).
	s.Invalidate()
	if _, err := s.Token(); err != nil {
		return Info{}, err
	}
	return s.Info(), nil
}
