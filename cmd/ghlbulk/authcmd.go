package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/session"
)

func newAuthCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Log in with OAuth, show or remove the stored token",
		Long: `Credentials come from GHL_TOKEN (a private integration token or an access token), which wins when
set, or else from the token file that 'auth login' writes (--token-file or GHL_TOKEN_FILE; default
$XDG_CONFIG_HOME/ghlbulk/token.json, mode 0600). Stored tokens are refreshed before they expire and
the rotated refresh token is saved at once. No token is ever printed, logged or taken as a flag.`,
	}
	cmd.AddCommand(newAuthLoginCmd(f), newAuthStatusCmd(f), newAuthRefreshCmd(f), newAuthLogoutCmd(f))
	return cmd
}

// authLoginOptions are auth login's flags.
type authLoginOptions struct {
	f                            *factory
	clientFile, listen, userType string
	scopes                       []string
}

func newAuthLoginCmd(f *factory) *cobra.Command {
	o := authLoginOptions{f: f}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Authorize ghlbulk for a location through OAuth and store the token",
		Long: `Runs HighLevel's authorization-code flow: prints the authorization URL (and opens it in a
browser when there is one), waits on a loopback redirect listener for the code, exchanges it and
stores the tokens in the token file (mode 0600, written atomically). The flow uses PKCE (S256) and a
random state; a redirect with another state is answered 400 and ignored, and the wait goes on.

The app's client id and secret come from GHL_CLIENT_ID and GHL_CLIENT_SECRET, or from
--client-file (JSON {"client_id": ..., "client_secret": ...}); never from the command line.
Register http://127.0.0.1:PORT/callback as a redirect URI of your app and pass --listen 127.0.0.1:PORT
(or localhost:PORT with http://localhost:PORT/callback). The listener is loopback only: any other
--listen host (0.0.0.0, a LAN address) is refused with exit 2.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuthLogin(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.clientFile, "client-file", "", "JSON file with the app's client_id and client_secret")
	cmd.Flags().StringSliceVar(&o.scopes, "scopes", auth.DefaultLoginScopes,
		"scopes to ask for, the least that does the job: contacts.readonly exports, contacts.write imports,\nlocations/customFields.readonly reads the custom field definitions (mappings with custom fields, typed columns)")
	cmd.Flags().StringVar(&o.listen, "listen", "", "loopback address of the redirect listener: 127.0.0.1:PORT or localhost:PORT (default 127.0.0.1 on a free port)")
	cmd.Flags().StringVar(&o.userType, "user-type", "Location", "token type: Location, or Company for an agency token")
	return cmd
}

// authOptions are auth status's and auth logout's: no flags of their own.
type authOptions struct{ f *factory }

func newAuthStatusCmd(f *factory) *cobra.Command {
	o := authOptions{f: f}
	return &cobra.Command{
		Use:   "status",
		Short: "Show which credentials are in use, for which location, scopes and expiry (never the token)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuthStatus(cmd.Context(), o)
		},
	}
}

func runAuthStatus(ctx context.Context, o authOptions) error {
	info, err := auth.Status(o.f.authOptions())
	if err != nil {
		return refused(err)
	}
	w := o.f.stdout
	fmt.Fprintf(w, "credentials: %s\n", info.Kind)
	if info.TokenFile != "" {
		fmt.Fprintf(w, "token file:  %s\n", info.TokenFile)
	}
	if info.LocationID != "" {
		fmt.Fprintf(w, "location:    %s\n", info.LocationID)
	}
	if info.CompanyID != "" {
		fmt.Fprintf(w, "company:     %s\n", info.CompanyID)
	}
	if info.UserType != "" {
		fmt.Fprintf(w, "user type:   %s\n", info.UserType)
	}
	if info.Scopes != nil {
		fmt.Fprintf(w, "scopes:      %s\n", strings.Join(info.Scopes, " "))
	} else {
		fmt.Fprintln(w, "scopes:      unknown (HighLevel cannot be asked; the preflight checks before any write)")
	}
	if !info.Expiry.IsZero() {
		fmt.Fprintf(w, "expires:     %s (in %s)\n", info.Expiry.UTC().Format(time.RFC3339), time.Until(info.Expiry).Round(time.Minute))
	}
	if info.Kind == auth.KindOAuth {
		fmt.Fprintf(w, "refreshable: %t\n", info.CanRefresh)
	}
	if info.Kind == auth.KindEnv {
		return checkEnvToken(ctx, o.f)
	}
	return nil
}

// checkEnvToken says whether GHL_TOKEN works, which nothing recorded can
// tell: it runs the read preflight (one GET of one contact of the
// location, retried like any run's request) and prints valid or invalid,
// never the token. A token that HighLevel refuses, or that cannot read the
// location, exits 2 as any command with it would.
func checkEnvToken(ctx context.Context, f *factory) error {
	w := f.stdout
	if _, err := f.locationID(); err != nil {
		fmt.Fprintln(w, "token:       not checked (set --location or GHL_LOCATION_ID to check it against a location)")
		return nil
	}
	s, err := f.session(ctx, session.Options{Need: auth.ScopeContactsRead})
	if err == nil {
		fmt.Fprintf(w, "token:       valid (location %s answered)\n", s.Location)
		return nil
	}
	var pe *auth.PreflightError
	switch {
	case errors.As(err, &pe) && pe.Status == http.StatusUnauthorized:
		fmt.Fprintln(w, "token:       invalid (HighLevel refused it: 401)")
	case errors.As(err, &pe):
		fmt.Fprintf(w, "token:       accepted, but not usable here (%d)\n", pe.Status)
	default:
		fmt.Fprintln(w, "token:       not checked (HighLevel could not be reached)")
	}
	return err
}

func newAuthRefreshCmd(f *factory) *cobra.Command {
	o := authOptions{f: f}
	return &cobra.Command{
		Use:   "refresh",
		Short: "Refresh the stored OAuth token now and save the rotated pair",
		Long: `Refreshes the token file's access token now, whatever its expiry, and saves the new access and
refresh tokens in place (0600, atomic, locked). Every command refreshes a token that is about to expire on
its own; this is for keeping one shared login fresh from a single place, e.g. a scheduled job that then
updates the Kubernetes Secret the export pods copy (deploy/kubernetes): pods that each refresh a copy
would all spend the same rotating refresh token, and all but the first would be refused.
Exit codes: 0 refreshed, 1 HighLevel could not be reached, 2 no token file, no refresh token or the
refresh was refused.`,
		Example: `  ghlbulk auth refresh
  GHL_TOKEN_FILE=/tokens/token.json ghlbulk auth refresh`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := auth.Refresh(cmd.Context(), o.f.authOptions())
			if err != nil {
				return session.Refusal(err)
			}
			fmt.Fprintf(o.f.stdout, "refreshed %s: expires %s (in %s)\n", info.TokenFile,
				info.Expiry.UTC().Format(time.RFC3339), time.Until(info.Expiry).Round(time.Minute))
			return nil
		},
	}
}

func newAuthLogoutCmd(f *factory) *cobra.Command {
	o := authOptions{f: f}
	return &cobra.Command{
		Use:   "logout",
		Short: "Delete the stored token file",
		Long: `Deletes the token file. HighLevel's API has no endpoint to revoke a token, so the grant stays
valid until it expires or the app is uninstalled from the location: uninstall it in HighLevel to
revoke it at once.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuthLogout(o)
		},
	}
}

func runAuthLogout(o authOptions) error {
	path, err := auth.Logout(o.f.authOptions())
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.stdout, "removed %s (HighLevel has no revoke endpoint: uninstall the app to revoke the grant)\n", path)
	return nil
}

func runAuthLogin(ctx context.Context, o authLoginOptions) error {
	f := o.f
	ao := f.authOptions()
	ao.ClientFile = o.clientFile
	id, secret, err := auth.ClientCredentials(ao)
	if err != nil {
		return refused(err)
	}
	// The same file Source reads: --token-file, else GHL_TOKEN_FILE,
	// else the default.
	tokenFile, err := ao.TokenFilePath()
	if err != nil {
		return refused(err)
	}
	info, err := auth.Login(ctx, auth.LoginOptions{
		APIURL: f.apiURL(), ClientID: id, ClientSecret: secret, Scopes: o.scopes,
		UserType: o.userType, TokenFile: tokenFile, Out: f.stderr, ListenAddr: o.listen,
	})
	if err != nil {
		return refused(err)
	}
	fmt.Fprintf(f.stdout, "logged in: %s\n", info)
	return nil
}
