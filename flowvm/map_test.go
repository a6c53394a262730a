package flowvm

import "testing"

func TestNotationsMap(t *testing.T) {
	p := mustLoad(t, allFiles(), "main")
	ns := p.Notations()
	idx := map[string]int{}
	for i, n := range ns {
		idx[n.Flow+"/"+n.ID] = i
	}
	for _, tc := range []struct {
		name, key, exit, target string
		start                   bool
		runs                    string
	}{
		{name: "start notation", key: "main/a", exit: "next", target: "main/p", start: true},
		{name: "menu option", key: "main/m", exit: "option_1", target: "main/s"},
		{name: "unwired exit", key: "main/h", exit: "", target: ""},
		{name: "call runs a flow", key: "main/c", exit: "next", target: "main/w", runs: "sub"},
		{name: "queue runs its in-queue flow", key: "main/q", exit: "connected", target: "main/h", runs: "inq"},
		{name: "sub-flow start", key: "sub/r", start: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := idx[tc.key]
			if !ok {
				t.Fatalf("no notation %s in %+v", tc.key, ns)
			}
			n := ns[i]
			if n.Start != tc.start || n.Runs != tc.runs || n.Pos == "" || n.Type == "" {
				t.Errorf("%s: %+v", tc.key, n)
			}
			if tc.exit == "" {
				return
			}
			for _, e := range n.Exits {
				if e.Name == tc.exit {
					if e.Target < 0 || ns[e.Target].Flow+"/"+ns[e.Target].ID != tc.target {
						t.Errorf("%s exit %s → %d, want %s", tc.key, tc.exit, e.Target, tc.target)
					}
					return
				}
			}
			t.Errorf("%s has no exit %s: %+v", tc.key, tc.exit, n.Exits)
		})
	}
}
