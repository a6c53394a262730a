package flowvm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	yerrors "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// flowSrc is one parsed flow file.
type flowSrc struct {
	name, file string
	// inQueue: the file declares `in_queue: true`, or a queue notation names it.
	inQueue  bool
	root     bool // entry flow or one named to Load/LoadFiles
	start    string
	startPos Pos
	namePos  Pos
	vars     []varDecl
	nodes    []*nnode
	byID     map[string]*nnode
	// notations is the file's notations mapping, parsed after the other keys.
	notations ast.Node
	parsed    bool
	index     int // in Program.flows
}

type varDecl struct {
	name string
	pos  Pos
	val  any
}

// nnode is one notation as written, then decoded and checked.
type nnode struct {
	id      string
	pos     Pos // position of the id key
	flow    *flowSrc
	spec    *spec
	vals    map[string]any
	edges   []edge
	pc      int
	queueRx bool // an expression reads queue.*
}

// edge is an exit wired to a target notation.
type edge struct {
	exit, target string
	pos          Pos
	dyn          bool // per-instance exit (menu option, branch condition)
}

// loader runs the load pipeline: parse → declare → type-check → graph checks → compile.
type loader struct {
	read  func(from *flowSrc, name string) (file string, data []byte, err error)
	errs  errs
	flows map[string]*flowSrc
	order []*flowSrc
	env   *envInfo
	cur   *nnode
	exprs []*cexpr
}

// Load loads the flow named entry (file "<entry>.yaml"; a ".yaml" suffix
// and a directory are accepted) from fsys, and every flow it references
// (call.flow, queue.in_queue) from the same directory. inQueue names more
// flows to load and check as in-queue flows, e.g. the queues' configured
// default in-queue flows. All problems are returned at once as an
// ErrorList.
func Load(fsys fs.FS, entry string, inQueue ...string) (*Program, error) {
	dir := path.Dir(entry)
	l := newLoader(func(_ *flowSrc, name string) (string, []byte, error) {
		file := path.Join(dir, name+".yaml")
		data, err := fs.ReadFile(fsys, file)
		return file, data, err
	})
	entryName := strings.TrimSuffix(path.Base(entry), ".yaml")
	l.loadRoot(entryName, false, Pos{File: entry, Line: 1, Col: 1})
	for _, n := range inQueue {
		l.loadRoot(strings.TrimSuffix(n, ".yaml"), true, Pos{File: entry, Line: 1, Col: 1})
	}
	return l.finish()
}

// LoadFiles loads flow files by path (as `callflow validate FILE...` does);
// flows they reference are read from the referencing file's directory. The
// first file is the Program's entry flow.
func LoadFiles(paths ...string) (*Program, error) {
	byName := map[string]string{}
	for _, p := range paths {
		byName[strings.TrimSuffix(filepath.Base(p), ".yaml")] = p
	}
	l := newLoader(func(from *flowSrc, name string) (string, []byte, error) {
		file, ok := byName[name]
		if !ok {
			dir := "."
			if from != nil {
				dir = filepath.Dir(from.file)
			}
			file = filepath.Join(dir, name+".yaml")
		}
		data, err := os.ReadFile(file)
		return file, data, err
	})
	if len(paths) == 0 {
		return nil, errors.New("flowvm: no flow files")
	}
	for _, p := range paths {
		l.loadRoot(strings.TrimSuffix(filepath.Base(p), ".yaml"), false, Pos{File: p, Line: 1, Col: 1})
	}
	return l.finish()
}

func newLoader(read func(*flowSrc, string) (string, []byte, error)) *loader {
	return &loader{read: read, flows: map[string]*flowSrc{}}
}

func (l *loader) loadRoot(name string, inQueue bool, at Pos) {
	f := l.flow(nil, name, at)
	if f != nil {
		f.root = true
		f.inQueue = f.inQueue || inQueue
	}
}

// flow returns the named flow, reading and parsing it on first use; nil
// when it cannot be read (an error is recorded at the reference).
func (l *loader) flow(from *flowSrc, name string, at Pos) *flowSrc {
	if f, ok := l.flows[name]; ok {
		return f
	}
	if !identRe.MatchString(strings.ReplaceAll(name, "-", "_")) {
		l.errs.add(at, "bad flow name %q", name)
		l.flows[name] = nil
		return nil
	}
	file, data, err := l.read(from, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.errs.add(at, "unknown flow %q (no file %s)", name, file)
		} else {
			l.errs.add(at, "flow %q: %v", name, err)
		}
		l.flows[name] = nil
		return nil
	}
	f := &flowSrc{name: name, file: file, byID: map[string]*nnode{}, index: len(l.order)}
	l.flows[name] = f
	l.order = append(l.order, f)
	l.parse(f, data)
	return f
}

// parse reads a flow file's YAML into f.
func (l *loader) parse(f *flowSrc, data []byte) {
	top := Pos{File: f.file, Line: 1, Col: 1}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yerrors.Error
		if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
			l.errs.add(Pos{File: f.file, Line: ye.GetToken().Position.Line, Col: ye.GetToken().Position.Column}, "yaml: %s", ye.GetMessage())
		} else {
			l.errs.add(top, "yaml: %v", err)
		}
		return
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		l.errs.add(top, "want one YAML document with a flow mapping")
		return
	}
	kvs, ok := mapping(file.Docs[0].Body)
	if !ok {
		l.errs.add(posOf(f.file, file.Docs[0].Body), "want a mapping with start and notations, got %s", nodeKind(file.Docs[0].Body))
		return
	}
	f.parsed = true
	seen := map[string]bool{}
	for _, kv := range kvs {
		k := keyText(kv)
		fk := flowKeyNamed(k)
		if fk == nil {
			l.errs.add(posOf(f.file, kv.Key), "unknown key %q (want %s)", k, flowKeyNames())
			continue
		}
		seen[fk.name] = true
		fk.decode(l, f, kv.Value)
	}
	for _, fk := range flowKeys {
		if fk.required && !seen[fk.name] {
			l.errs.add(top, "missing %s", fk.name)
		}
	}
	if f.notations == nil {
		return
	}
	nkvs, ok := mapping(f.notations)
	if !ok {
		l.errs.add(posOf(f.file, f.notations), "notations: want a mapping of id → notation")
		return
	}
	for _, kv := range nkvs {
		l.parseNotation(f, kv)
	}
}

var idRe = identRe

func (l *loader) parseNotation(f *flowSrc, kv *ast.MappingValueNode) {
	id, kp := keyText(kv), posOf(f.file, kv.Key)
	if !idRe.MatchString(strings.ReplaceAll(id, "-", "_")) {
		l.errs.add(kp, "bad notation id %q (letters, digits, _ and -)", id)
		return
	}
	if _, dup := f.byID[id]; dup {
		l.errs.add(kp, "duplicate notation %q", id)
		return
	}
	n := &nnode{id: id, pos: kp, flow: f, vals: map[string]any{}}
	f.byID[id] = n
	f.nodes = append(f.nodes, n)
	kvs, ok := mapping(kv.Value)
	if !ok {
		l.errs.add(posOf(f.file, kv.Value), "notation %q: want a mapping with type, got %s", id, nodeKind(kv.Value))
		return
	}
	for _, p := range kvs {
		if keyText(p) != "type" {
			continue
		}
		t, _, _ := scalar(p.Value)
		s, ok := specs[t]
		if !ok {
			l.errs.add(posOf(f.file, p.Key), "unknown notation %q", t)
			return
		}
		n.spec = s
	}
	if n.spec == nil {
		l.errs.add(kp, "notation %q: missing type", id)
		return
	}
	l.cur = n
	defer func() { l.cur = nil }()
	seen := map[string]bool{}
	for _, p := range kvs {
		k, pp := keyText(p), posOf(f.file, p.Key)
		if seen[k] {
			l.errs.add(pp, "duplicate key %q", k)
			continue
		}
		seen[k] = true
		switch k {
		case "type", "description":
		case "next":
			if n.spec.exitIndex("next") < 0 {
				l.errs.add(pp, "%s has no exit \"next\"", n.spec.typ)
				continue
			}
			l.addExit(n, "next", p.Value)
		case "exits":
			ekvs, ok := mapping(p.Value)
			if !ok {
				l.errs.add(posOf(f.file, p.Value), "exits: want a mapping of exit → notation id")
				continue
			}
			for _, e := range ekvs {
				name := keyText(e)
				if n.spec.exitIndex(name) < 0 {
					l.errs.add(posOf(f.file, e.Key), "%s has no exit %q (%s)", n.spec.typ, name, exitNames(n.spec))
					continue
				}
				if seen["exit:"+name] {
					l.errs.add(posOf(f.file, e.Key), "exit %q wired twice", name)
					continue
				}
				seen["exit:"+name] = true
				l.addExit(n, name, e.Value)
			}
		default:
			par := n.spec.param(k)
			if par == nil {
				l.errs.add(pp, "unknown parameter %q for %s", k, n.spec.typ)
				continue
			}
			l.decodeParam(n, par, p.Key, p.Value)
		}
	}
	if seen["next"] && seen["exit:next"] {
		l.errs.add(kp, "exit \"next\" wired twice (next and exits.next)")
	}
	for i := range n.spec.params {
		par := &n.spec.params[i]
		if seen[par.name] {
			continue
		}
		if par.required {
			l.errs.add(kp, "%s %q: missing parameter %q", n.spec.typ, id, par.name)
			continue
		}
		if par.def != nil {
			n.vals[par.name] = par.def
		}
	}
	wired := map[string]bool{}
	for _, e := range n.edges {
		wired[e.exit] = true
	}
	for _, e := range n.spec.exits {
		if e.required && !wired[e.name] {
			l.errs.add(kp, "%s %q: missing exit %q", n.spec.typ, id, e.name)
		}
	}
}

func exitNames(s *spec) string {
	if len(s.exits) == 0 {
		return "it has none"
	}
	names := make([]string, len(s.exits))
	for i, e := range s.exits {
		names[i] = e.name
	}
	return "want " + strings.Join(names, ", ")
}

func (l *loader) addExit(n *nnode, name string, v ast.Node) {
	s, ok, _ := scalar(v)
	if !ok || s == "" {
		l.errs.add(posOf(n.flow.file, v), "exit %q: want a notation id, got %s", name, nodeKind(v))
		return
	}
	n.edges = append(n.edges, edge{exit: name, target: s, pos: posOf(n.flow.file, v)})
}

// finish runs the remaining stages and returns the Program or every error.
// A panic of a stage (a bug) becomes an error at the entry file, never a
// crash of the service.
func (l *loader) finish() (p *Program, err error) {
	defer func() {
		if v := recover(); v != nil {
			file := "flow"
			if len(l.order) > 0 {
				file = l.order[0].file
			}
			l.errs.add(Pos{File: file, Line: 1, Col: 1}, "internal error: %v", v)
			p, err = nil, l.errs.result()
		}
	}()
	l.resolveFlows()
	l.declare()
	l.compileExprs()
	for _, f := range l.order {
		for _, n := range f.nodes {
			if n.spec != nil && n.spec.check != nil {
				n.spec.check(l, n)
			}
		}
	}
	l.checkGraph()
	if err := l.errs.result(); err != nil {
		return nil, err
	}
	return l.compile(), nil
}

// resolveFlows loads every flow referenced by call.flow and queue.in_queue.
// Loading can append to l.order, so the loop runs until no flow is new.
func (l *loader) resolveFlows() {
	for i := 0; i < len(l.order); i++ {
		f := l.order[i]
		for _, n := range f.nodes {
			for _, key := range []string{"flow", "in_queue"} {
				ref, ok := n.vals[key].(flowRef)
				if !ok {
					continue
				}
				g := l.flow(f, ref.name, ref.pos)
				if g != nil && key == "in_queue" {
					g.inQueue = true
				}
			}
		}
	}
}

func (n *nnode) String() string { return fmt.Sprintf("%s %q", n.spec.typ, n.id) }
