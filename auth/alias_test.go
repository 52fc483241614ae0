package auth

import "golang.org/x/oauth2"

type oauth2Token = oauth2.Token
