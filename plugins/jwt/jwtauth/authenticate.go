package jwtauth

import (
	"fmt"
	"sort"
	"time"
)

// Request is one authentication: a token and the client presenting it.
type Request struct {
	Token    string
	Username string // "" when the CONNECT has none
	ClientID string
	Now      time.Time
}

// Attribute is one client attribute an allowed token yields.
type Attribute struct{ Key, Value string }

// Identity is what an accepted token admits a client as.
type Identity struct {
	Principal  string
	Attributes []Attribute // sorted by key; the ACL, if any, under ACLAttribute
}

// Keys is the number of verification keys loaded.
func (a *Authenticator) Keys() int { return a.keys.Len() }

// ACLAttribute is the client attribute that carries the token's ACL.
func (a *Authenticator) ACLAttribute() string { return a.aclAttribute }

// Authenticate verifies r.Token and checks its claims. The error is
// ErrNotJWS when the token is not a JWT at all, otherwise one of the
// package's refusals (possibly wrapped with detail that holds no part of
// the token).
func (a *Authenticator) Authenticate(r Request) (Identity, error) {
	c, err := a.keys.verify(r.Token, a.accepted)
	if err != nil {
		return Identity{}, err
	}
	if err := a.checkTimes(c, r.Now); err != nil {
		return Identity{}, err
	}
	if a.issuer != "" {
		if iss, _ := c.String("iss"); iss != a.issuer {
			return Identity{}, ErrIssuer
		}
	}
	if a.audience != "" && !c.hasAudience(a.audience) {
		return Identity{}, ErrAudience
	}
	principal, _ := c.String(a.principalClaim)
	if principal == "" {
		return Identity{}, fmt.Errorf("%w (%s)", ErrPrincipal, a.principalClaim)
	}
	if a.usernameClaim != "" {
		if want, _ := c.String(a.usernameClaim); want == "" || r.Username != want {
			return Identity{}, fmt.Errorf("%w (%s)", ErrUsername, a.usernameClaim)
		}
	}
	id := Identity{Principal: principal}
	for attr, claim := range a.attributes {
		if v, ok := c[claim]; ok && v != nil {
			id.Attributes = append(id.Attributes, Attribute{attr, attributeValue(v)})
		}
	}
	if v, ok := c[a.aclClaim]; ok && a.aclClaim != "" {
		acl, err := compileACL(v, r.ClientID, r.Username)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: %v", ErrACLClaim, err)
		}
		if len(acl) > a.maxACLBytes {
			return Identity{}, fmt.Errorf("%w: %d bytes compiled, over max_acl_bytes %d", ErrACLClaim, len(acl), a.maxACLBytes)
		}
		id.Attributes = append(id.Attributes, Attribute{a.aclAttribute, acl})
	}
	sort.Slice(id.Attributes, func(i, j int) bool { return id.Attributes[i].Key < id.Attributes[j].Key })
	return id, nil
}

// checkTimes applies exp and nbf (RFC 7519 §4.1.4, §4.1.5) with the
// configured leeway for clock skew.
func (a *Authenticator) checkTimes(c Claims, now time.Time) error {
	t := float64(now.UnixNano()) / 1e9
	exp, ok, err := c.numericDate("exp")
	switch {
	case err != nil:
		return fmt.Errorf("%w (exp)", err)
	case !ok && a.requireExp:
		return ErrNoExp
	case ok && t >= exp+a.leeway:
		return ErrExpired
	}
	nbf, ok, err := c.numericDate("nbf")
	switch {
	case err != nil:
		return fmt.Errorf("%w (nbf)", err)
	case ok && t < nbf-a.leeway:
		return ErrNotYetValid
	}
	return nil
}
