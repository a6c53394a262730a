package ari

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// jsonType is what encoding/json finds for the top-level "type".
func jsonType(data []byte) (string, bool) {
	var peek struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &peek); err != nil {
		return "", false
	}
	return peek.Type, true
}

func TestPeekType(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{name: "first key", in: `{"type":"StasisStart","channel":{"id":"1"}}`, want: "StasisStart", wantOK: true},
		{name: "after nested values", in: `{"channel":{"id":"1","type":"x","a":[1,{"b":"}"}]},"args":["type"],"n":-1.5e3,"ok":true,"type":"Dial"}`, want: "Dial", wantOK: true},
		{name: "spaces", in: " {\n\t\"digit\" : \"1\" ,\r\n \"type\" : \"ChannelDtmfReceived\" } ", want: "ChannelDtmfReceived", wantOK: true},
		{name: "case folded key", in: `{"TYPE":"StasisEnd"}`, want: "StasisEnd", wantOK: true},
		{name: "last one wins", in: `{"type":"A","type":"B"}`, want: "B", wantOK: true},
		{name: "brackets in strings", in: `{"x":"{[\"]}","type":"Dial"}`, want: "Dial", wantOK: true},
		{name: "no type", in: `{"channel":{"type":"Dial"}}`},
		{name: "escaped value", in: `{"type":"Sta\u0073isStart"}`},
		{name: "escaped key", in: `{"typ\u0065":"StasisStart"}`},
		{name: "number type", in: `{"type":5}`},
		{name: "null type", in: `{"type":null}`},
		{name: "array", in: `["type","Dial"]`},
		{name: "truncated", in: `{"type":"Dial","channel":{"id":"1"`, want: "Dial", wantOK: false},
		{name: "empty", in: ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := peekType([]byte(tc.in))
			if ok != tc.wantOK || (ok && got != tc.want) {
				t.Fatalf("peekType = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
			if ok {
				if jt, jok := jsonType([]byte(tc.in)); jok && jt != got {
					t.Fatalf("peekType %q, encoding/json %q", got, jt)
				}
			}
		})
	}
}

func TestPeekTypeFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := peekType(b)
		want, _ := jsonType(b)
		if !ok || got != want {
			t.Errorf("%s: peekType %q, %v; encoding/json %q", p, got, ok, want)
		}
	}
}

// FuzzPeekType: whenever the fast path answers for a message encoding/json
// accepts, both agree on the type.
func FuzzPeekType(f *testing.F) {
	for _, s := range []string{`{"type":"Dial"}`, `{"a":[{"type":"x"}],"TyPe":"y"}`, `{"type":"a","type":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := peekType(data)
		want, jok := jsonType(data)
		if ok && jok && got != want {
			t.Fatalf("peekType %q, encoding/json %q for %q", got, want, data)
		}
	})
}
