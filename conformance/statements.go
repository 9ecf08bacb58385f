package conformance

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:embed statements.txt
var statementsText string

// Statement is one normative statement of a specification version.
type Statement struct {
	ID       string // "MQTT-3.1.0-1"
	Version  byte   // 4 (3.1.1) or 5
	Section  string // "3.1.0"
	Summary  string // one line, in the suite's own words
	Testable bool   // a test of this suite checks it
	WhyNot   string // for the others: why no network test checks it
}

var shorthands = map[string]string{
	"@client": "an obligation of the Client alone; the suite is the client, so no broker behaviour shows it",
	"@ws":     "about the WebSocket transport; the suite speaks TCP",
	"@auth":   "needs a broker set up with an enhanced authentication method; no option describes one yet",
}

var (
	catalogueOnce sync.Once
	catalogue     []Statement
	catalogueErr  error
)

// Statements returns the catalogue of normative statements of both
// versions, in specification order, 5.0 first.
func Statements() []Statement {
	catalogueOnce.Do(func() { catalogue, catalogueErr = parseStatements(statementsText) })
	if catalogueErr != nil {
		panic(catalogueErr) // the file is embedded: a unit test keeps it valid
	}
	return append([]Statement(nil), catalogue...)
}

func parseStatements(text string) ([]Statement, error) {
	covered := map[string]bool{}
	for _, c := range Cases() {
		for _, id := range c.V5 {
			covered["5 MQTT-"+id] = true
		}
		for _, id := range c.V4 {
			covered["4 MQTT-"+id] = true
		}
	}
	var out []Statement
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 4 || (f[0] != "4" && f[0] != "5") {
			return nil, fmt.Errorf("statements.txt:%d: want version|id|summary|why-not", n+1)
		}
		s := Statement{ID: "MQTT-" + f[1], Version: f[0][0] - '0', Section: sectionOf(f[1]), Summary: f[2], WhyNot: f[3]}
		if long, ok := shorthands[s.WhyNot]; ok {
			s.WhyNot = long
		}
		s.Testable = covered[fmt.Sprintf("%d %s", s.Version, s.ID)]
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, k int) bool {
		if out[i].Version != out[k].Version {
			return out[i].Version > out[k].Version
		}
		return lessStatement(out[i].ID, out[k].ID)
	})
	return out, nil
}

// statementIndex maps "version id" to the statement.
func statementIndex() map[string]Statement {
	m := map[string]Statement{}
	for _, s := range Statements() {
		m[key(s.Version, s.ID)] = s
	}
	return m
}

func key(v byte, id string) string { return fmt.Sprintf("%d %s", v, id) }

// VersionName is how people write a protocol version: "3.1.1" or "5.0".
func VersionName(v byte) string {
	if v == 4 {
		return "3.1.1"
	}
	return "5.0"
}
