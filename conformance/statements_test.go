package conformance

import (
	"strings"
	"testing"
)

// TestEveryStatementHasATestOrAReason keeps the catalogue honest: a
// statement is either checked by a case or says why it cannot be.
func TestEveryStatementHasATestOrAReason(t *testing.T) {
	for _, s := range Statements() {
		if !s.Testable && s.WhyNot == "" {
			t.Errorf("%s %s: no test and no reason", VersionName(s.Version), s.ID)
		}
		if s.Testable && s.WhyNot != "" {
			t.Errorf("%s %s: has a test but also a reason it is not testable", VersionName(s.Version), s.ID)
		}
	}
}

// TestCasesNameCataloguedStatements catches typos in the cases' ids.
func TestCasesNameCataloguedStatements(t *testing.T) {
	idx := statementIndex()
	names := map[string]bool{}
	for _, c := range Cases() {
		if names[c.Name] {
			t.Errorf("two cases named %s", c.Name)
		}
		names[c.Name] = true
		if c.V4 == nil && c.V5 == nil {
			t.Errorf("%s checks no statement", c.Name)
		}
		for _, id := range c.V5 {
			if _, ok := idx[key(5, "MQTT-"+id)]; !ok {
				t.Errorf("%s: MQTT-%s is not a 5.0 statement", c.Name, id)
			}
		}
		for _, id := range c.V4 {
			if _, ok := idx[key(4, "MQTT-"+id)]; !ok {
				t.Errorf("%s: MQTT-%s is not a 3.1.1 statement", c.Name, id)
			}
		}
	}
}

// TestCatalogueSizes guards against lines lost from statements.txt: 5.0
// has 251 numbered statements, 3.1.1 has 137 in our reading.
func TestCatalogueSizes(t *testing.T) {
	n := map[byte]int{}
	seen := map[string]bool{}
	for _, s := range Statements() {
		n[s.Version]++
		k := key(s.Version, s.ID)
		if seen[k] {
			t.Errorf("%s listed twice", k)
		}
		seen[k] = true
		if !strings.HasPrefix(s.ID, "MQTT-") || s.Summary == "" {
			t.Errorf("%s: bad line", k)
		}
	}
	if n[5] != 251 || n[4] != 137 {
		t.Errorf("catalogue has %d 5.0 and %d 3.1.1 statements, want 251 and 137", n[5], n[4])
	}
}
