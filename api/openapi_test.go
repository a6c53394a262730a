package api

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

type openAPIDoc struct {
	OpenAPI string                    `yaml:"openapi"`
	Paths   map[string]map[string]any `yaml:"paths"`
}

// TestOpenAPIMatchesRoutes checks that the document names exactly the
// routes of the route table, and that each documented response code is
// one the route can produce, its success code included.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string][]int{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			opm, _ := op.(map[string]any)
			responses, _ := opm["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s: no responses", key)
			}
			for code := range responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status code", key, code)
					continue
				}
				documented[key] = append(documented[key], n)
			}
		}
	}
	registered := map[string][]int{}
	for _, rt := range routes() {
		registered[rt.method+" "+rt.path] = rt.codes
	}
	keys := func(m map[string][]int) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if d, r := keys(documented), keys(registered); !slices.Equal(d, r) {
		t.Fatalf("documented routes\n %v\nregistered routes\n %v", d, r)
	}
	for key, codes := range documented {
		can := registered[key]
		if !slices.Contains(codes, can[0]) {
			t.Errorf("%s: success code %d not documented", key, can[0])
		}
		for _, c := range codes {
			if !slices.Contains(can, c) {
				t.Errorf("%s: documents %d, which the route cannot produce (it can: %v)", key, c, can)
			}
		}
	}
}

// TestRouteTableIsTheMux checks that every route of the table is what the
// mux serves (a request for it reaches the route's pattern).
func TestRouteTableIsTheMux(t *testing.T) {
	f := newFixture(t, token)
	h, err := New(Options{Engine: f.eng, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes() {
		path := strings.NewReplacer("{id}", "1", "{name}", "x").Replace(rt.path)
		req := mustRequest(t, rt.method, path)
		if _, pattern := h.mux.Handler(req); pattern != rt.pattern() {
			t.Errorf("%s %s reaches %q, want %q", rt.method, path, pattern, rt.pattern())
		}
	}
}
