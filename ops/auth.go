package ops

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/plumemq/plume/core/setting"
	"github.com/plumemq/plume/plugins/passwd"
)

// authenticator checks a request's credentials against the configured
// token and password file. Files are read once, at Listen.
type authenticator struct {
	token []byte // SHA-256 of the bearer token; nil without one
	users map[string]passwd.Hash
	decoy passwd.Hash // verified for an unknown user, so that it takes as long as a known one

	// Password hashes cost tens of milliseconds (argon2id: 19 MiB each): a
	// dashboard polling with basic auth would pay that per request, and a
	// flood of guesses would pay it in memory. So verifications run one at
	// a time, and a verified user:password is remembered for cacheFor as an
	// HMAC under a key made at start-up (never the password itself).
	verifying chan struct{}
	mu        sync.Mutex
	key       [32]byte
	verified  map[[32]byte]time.Time
}

// cacheFor is how long a verified basic-auth password is taken without
// hashing it again. A user removed from the file keeps access this long
// at most; the file itself is read at start-up only.
const cacheFor = 5 * time.Minute

// maxVerified bounds the verified-password cache; past it, it starts over.
const maxVerified = 1024

// newAuthenticator reads a's files; nil when a asks for nothing. Errors name
// the key (auth.bearer_token_file, auth.basic_auth_file).
func newAuthenticator(a Auth) (*authenticator, error) {
	if !a.Configured() {
		return nil, nil
	}
	au := &authenticator{verifying: make(chan struct{}, 1), verified: map[[32]byte]time.Time{}}
	if _, err := rand.Read(au.key[:]); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if a.BearerTokenFile != "" {
		data, err := os.ReadFile(a.BearerTokenFile)
		if err != nil {
			return nil, setting.Errorf("auth.bearer_token_file", "%w", err)
		}
		tok := strings.TrimSpace(string(data))
		if len(tok) < 16 {
			return nil, setting.Errorf("auth.bearer_token_file", "%s: the token is %d characters; use 16 or more (e.g. openssl rand -hex 32)", a.BearerTokenFile, len(tok))
		}
		sum := sha256.Sum256([]byte(tok))
		au.token = sum[:]
	}
	if a.BasicAuthFile != "" {
		data, err := os.ReadFile(a.BasicAuthFile)
		if err != nil {
			return nil, setting.Errorf("auth.basic_auth_file", "%w", err)
		}
		f, err := passwd.ParseFile(data)
		if err != nil {
			return nil, setting.Errorf("auth.basic_auth_file", "%s: %w", a.BasicAuthFile, err)
		}
		au.users = map[string]passwd.Hash{}
		for _, e := range f.Entries() {
			h, err := passwd.Parse(e.Field)
			if err != nil {
				return nil, setting.Errorf("auth.basic_auth_file", "%s: line %d: user %q: %w (hash it with plume passwd -U)", a.BasicAuthFile, e.Line, e.User, err)
			}
			au.users[e.User] = h
			au.decoy = h.Decoy()
		}
		if len(au.users) == 0 {
			return nil, setting.Errorf("auth.basic_auth_file", "%s: no users", a.BasicAuthFile)
		}
	}
	return au, nil
}

// challenge is the WWW-Authenticate header values of a 401.
func (au *authenticator) challenge(h http.Header) {
	if au.token != nil {
		h.Add("WWW-Authenticate", `Bearer realm="plume"`)
	}
	if au.users != nil {
		h.Add("WWW-Authenticate", `Basic realm="plume", charset="UTF-8"`)
	}
}

// check returns the name of who r authenticates as ("bearer" for the
// token, the user for basic auth), or "" and false.
func (au *authenticator) check(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case au.token != nil && strings.EqualFold(scheme, "Bearer"):
		// Both sides hashed: the comparison takes the same time whatever the
		// length or the place of the first difference.
		sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
		return "bearer", subtle.ConstantTimeCompare(sum[:], au.token) == 1
	case au.users != nil && strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", false
		}
		return user, au.verify(r.Context(), user, pass)
	}
	return "", false
}

// verify checks user's password, from the cache when it was verified lately.
func (au *authenticator) verify(ctx context.Context, user, pass string) bool {
	mac := hmac.New(sha256.New, au.key[:])
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var k [32]byte
	mac.Sum(k[:0])
	now := time.Now()
	au.mu.Lock()
	at, ok := au.verified[k]
	au.mu.Unlock()
	if ok && now.Sub(at) < cacheFor {
		return true
	}
	select {
	case au.verifying <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	h, known := au.users[user]
	if !known {
		h = au.decoy
	}
	good := h.Verify([]byte(pass)) && known
	<-au.verifying
	if good {
		au.mu.Lock()
		if len(au.verified) >= maxVerified {
			clear(au.verified)
		}
		au.verified[k] = now
		au.mu.Unlock()
	}
	return good
}

// openPaths are answered without credentials: probes of orchestrators
// (Kubernetes, load balancers) carry none, and they tell nothing secret.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true}

// actorKey is the request context key of who the request authenticated as.
type actorKey struct{}

// ActorOf returns who r authenticated as: "bearer" for the token, the user
// name for basic auth, "anonymous" when the endpoint asks for no credentials.
func ActorOf(r *http.Request) string {
	if a, ok := r.Context().Value(actorKey{}).(string); ok {
		return a
	}
	return "anonymous"
}

// guard wraps next with the credential check; nil au lets everything through.
func (au *authenticator) guard(next http.Handler) http.Handler {
	if au == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		who, ok := au.check(r)
		if !ok {
			au.challenge(w.Header())
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"credentials required: a bearer token or basic auth, as http.auth configures"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, who)))
	})
}
