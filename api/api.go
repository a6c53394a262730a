// Package api is callflow's HTTP interface: a JSON API for callbacks,
// queues and the event log (bearer-token auth), /metrics, /healthz, the
// recordings and a read-only wallboard page. Every route is declared once,
// in routes(); the mux and the OpenAPI test both read that table.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowmap"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// Engine is what the API needs from the queue engine.
type Engine interface {
	QueueNames() []string
	Snapshot(queue string) (queue.QueueSnapshot, bool)
	CreateCallback(ctx context.Context, req queue.CreateRequest) (queue.CreateResult, error)
	CancelCallback(ctx context.Context, id int64) (store.Callback, error)
}

// Store is what the API reads from the store.
type Store interface {
	Get(ctx context.Context, id int64) (store.Callback, error)
	Attempts(ctx context.Context, callbackID int64) ([]store.Attempt, error)
	QueryCallbacks(ctx context.Context, f store.CallbackFilter) (store.CallbackPage, error)
	QueryEvents(ctx context.Context, f store.EventFilter) (store.EventPage, error)
}

// Options configure the API.
type Options struct {
	Engine Engine
	Store  Store
	// Media serves recordings by the "name" path value (nil: 404).
	Media http.Handler
	// Token is the bearer token; "" disables authentication, which
	// ListenAndServe allows on loopback addresses only.
	Token string
	// Health reports the switch connection for /healthz (nil: ok, "unknown").
	Health func() (ok bool, detail string)
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// Flows feeds the wallboard's flow view (nil: no flow view).
	Flows *flowmap.Board
	Log   *zap.Logger
	// Nodes reports the nodes sharing the database for GET /v1/nodes
	// (nil: a single node, 404).
	Nodes NodesFunc
	// Standby tells whether this node waits for its switch's lease
	// (nil: never): it then refuses to register or cancel callbacks (503),
	// which the active node's engine serves.
	Standby func() bool
}

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Handler is the API's http.Handler.
type Handler struct {
	opt     Options
	log     *zap.Logger
	mux     *http.ServeMux
	token   [sha256.Size]byte
	hasAuth bool
	// closing ends the wallboard streams when the server shuts down.
	closing   chan struct{}
	closeOnce sync.Once
}

// route is one entry of the route table.
type route struct {
	method, path string
	// public routes need no token.
	public bool
	// codes are the statuses the handler can answer with (success first).
	codes []int
	h     func(h *Handler, w http.ResponseWriter, r *http.Request) error
}

// pattern is the ServeMux pattern of the route.
func (rt route) pattern() string {
	if rt.path == "/" {
		return rt.method + " /{$}"
	}
	return rt.method + " " + rt.path
}

const (
	ok200 = http.StatusOK
	c201  = http.StatusCreated
	e400  = http.StatusBadRequest
	e401  = http.StatusUnauthorized
	e404  = http.StatusNotFound
	e409  = http.StatusConflict
	e413  = http.StatusRequestEntityTooLarge
	e415  = http.StatusUnsupportedMediaType
	e422  = http.StatusUnprocessableEntity
	e500  = http.StatusInternalServerError
	e503  = http.StatusServiceUnavailable
)

// routes is the one table of every route.
func routes() []route {
	return []route{
		{method: "GET", path: "/healthz", public: true, codes: []int{ok200, e503}, h: (*Handler).healthz},
		{method: "GET", path: "/", public: true, codes: []int{ok200}, h: (*Handler).wallboard},
		{method: "GET", path: "/metrics", codes: []int{ok200, e401, e404}, h: (*Handler).metrics},
		{method: "POST", path: "/v1/callbacks", codes: []int{c201, e400, e401, e409, e413, e415, e422, e500, e503}, h: (*Handler).createCallback},
		{method: "GET", path: "/v1/callbacks", codes: []int{ok200, e400, e401, e500}, h: (*Handler).listCallbacks},
		{method: "GET", path: "/v1/callbacks/{id}", codes: []int{ok200, e400, e401, e404, e500}, h: (*Handler).getCallback},
		{method: "DELETE", path: "/v1/callbacks/{id}", codes: []int{ok200, e400, e401, e404, e409, e500, e503}, h: (*Handler).cancelCallback},
		{method: "GET", path: "/v1/queues", codes: []int{ok200, e401}, h: (*Handler).listQueues},
		{method: "GET", path: "/v1/queues/{name}", codes: []int{ok200, e401, e404}, h: (*Handler).getQueue},
		{method: "GET", path: "/v1/events", codes: []int{ok200, e400, e401, e500}, h: (*Handler).listEvents},
		{method: "GET", path: "/v1/recordings/{name}", codes: []int{ok200, e400, e401, e404, e500}, h: (*Handler).recording},
		{method: "GET", path: "/v1/wallboard/stream", codes: []int{ok200, e401}, h: (*Handler).wallboardStream},
		{method: "GET", path: "/v1/wallboard/flows", codes: []int{ok200, e401}, h: (*Handler).wallboardFlows},
		{method: "GET", path: "/v1/nodes", codes: []int{ok200, e401, e404, e500}, h: (*Handler).listNodes},
	}
}

// New builds the API handler.
func New(opt Options) (*Handler, error) {
	if opt.Engine == nil || opt.Store == nil {
		return nil, errors.New("api: Engine and Store are required")
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	h := &Handler{opt: opt, log: opt.Log, mux: http.NewServeMux(), closing: make(chan struct{})}
	if opt.Token != "" {
		h.token, h.hasAuth = sha256.Sum256([]byte(opt.Token)), true
	}
	for _, rt := range routes() {
		h.mux.Handle(rt.pattern(), h.wrap(rt))
	}
	h.mux.HandleFunc("/", h.fallback)
	return h, nil
}

// RequiresToken reports whether a bearer token is configured.
func (h *Handler) RequiresToken() bool { return h.hasAuth }

// Close ends the open wallboard streams (Serve calls it when the server
// shuts down: a stream would otherwise hold the shutdown until its
// timeout).
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closing) }) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// wrap adds authentication, panic recovery and error rendering.
func (h *Handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.Error("api handler panic", zap.String("route", rt.pattern()), zap.Any("panic", p), zap.Stack("stack"))
				writeError(w, errf(e500, "internal", "internal error"))
			}
		}()
		if !rt.public && !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="callflow"`)
			writeError(w, errf(e401, "unauthorized", "a valid bearer token is required"))
			return
		}
		if err := rt.h(h, w, r); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				h.log.Error("api request failed", zap.String("route", rt.pattern()), zap.Error(err))
				ae = errf(e500, "internal", "internal error")
			} else if ae.Status >= 500 {
				h.log.Error("api request failed", zap.String("route", rt.pattern()), zap.Error(err))
			}
			writeError(w, ae)
		}
	})
}

// authorized compares the bearer token in constant time (both sides
// hashed, so the length is not revealed either).
func (h *Handler) authorized(r *http.Request) bool {
	if !h.hasAuth {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.token[:]) == 1
}

// fallback answers requests no route matches: 405 when the path has a
// route for another method, else 404, both as JSON errors.
func (h *Handler) fallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		rr := r.Clone(r.Context())
		rr.Method = m
		if _, p := h.mux.Handler(rr); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, errf(http.StatusMethodNotAllowed, "method_not_allowed", "method %s not allowed", r.Method))
		return
	}
	writeError(w, errf(e404, "not_found", "no such route"))
}

// Server timeouts.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute // recordings can be large
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
)

// ListenAndServe serves h on addr until ctx ends, then shuts down
// gracefully (in-flight requests get shutdownTimeout). An API handler
// without a token is refused on a non-loopback address.
func ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	if ah, ok := h.(*Handler); ok && !ah.RequiresToken() && !config.IsLoopback(addr) {
		return errors.New("api: refusing to serve without a token on " + addr + " (not a loopback address)")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", addr, err)
	}
	return Serve(ctx, ln, h)
}

// Serve serves h on ln until ctx ends (see ListenAndServe).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if ah, ok := h.(*Handler); ok {
		srv.RegisterOnShutdown(ah.Close)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // ends when Shutdown closes the listener
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// OpenAPI is the OpenAPI 3 document of every route.
//
//go:embed openapi.yaml
var OpenAPI []byte
