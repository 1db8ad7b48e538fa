package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// DefaultPort is the port --listen uses when its value has none. 9966 is
// in the range Prometheus exporters take their default ports from
// (9100-9999) and clear of the well-known ones (Prometheus 9090, the
// Pushgateway 9091, Alertmanager 9093, node_exporter 9100, blackbox 9115,
// ...), and of the common development ports (8080, 9000, 9090): a host that
// runs node_exporter beside tcptop needs no flag to keep them apart. It is
// not yet recorded in the Prometheus wiki's "Default port allocations"
// page, which could not be read from where this was written; record it
// there (or pick the next free one) before a release.
const DefaultPort = 9966

// ListenAddress turns a --listen value into a host:port for net.Listen.
// Loopback unless an address is given: "9966", ":9966" and "" without a
// port mean 127.0.0.1; a host or address without a port gets DefaultPort
// ("0.0.0.0" → "0.0.0.0:9966", "::" → "[::]:9966"). Errors name what is
// wrong.
func ListenAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("--listen needs an address, e.g. 127.0.0.1:" + strconv.Itoa(DefaultPort) + ", :" + strconv.Itoa(DefaultPort) + " (loopback) or 0.0.0.0:" + strconv.Itoa(DefaultPort))
	}
	if isPort(s) {
		return checkPort(s, "127.0.0.1")
	}
	if a, err := netip.ParseAddr(s); err == nil { // a bare address, IPv6 without brackets too
		if a.Zone() != "" {
			return "", fmt.Errorf("--listen %q: zoned addresses are not supported", s)
		}
		return netip.AddrPortFrom(a, DefaultPort).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") {
			return "", fmt.Errorf("--listen %q: want HOST:PORT, :PORT, PORT or HOST", s)
		}
		host, port = s, strconv.Itoa(DefaultPort)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if !isPort(port) {
		return "", fmt.Errorf("--listen %q: port %q is not a number", s, port)
	}
	if strings.ContainsAny(host, " /\\@?#") {
		return "", fmt.Errorf("--listen %q: %q is not a host name or address", s, host)
	}
	return checkPort(port, host)
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func checkPort(port, host string) (string, error) {
	n, _ := strconv.Atoi(port)
	if n > 65535 {
		return "", fmt.Errorf("--listen: port %d is out of range (0-65535)", n)
	}
	return net.JoinHostPort(host, port), nil
}

// ValidateWebConfig reads an exporter-toolkit web configuration file (TLS
// and basic auth, as node_exporter's --web.config.file) and checks it,
// certificates included. "" is valid: plain HTTP, no auth.
func ValidateWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("--web-config %s: %w", path, err)
	}
	return nil
}

// Handler serves /metrics (the Prometheus text format, or OpenMetrics when
// the scraper asks for it, gzip or zstd when it accepts them) and a small
// page at / linking to it. The registry holds the Exporter and the Go and
// process collectors (the exporter's own health).
func (e *Exporter) Handler() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(e); err != nil {
		return nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		// Concurrent scrapes share one gather: 50 scrapers cost one.
		CoalesceGather: true,
		// A collector error still serves what gathered; the snapshot
		// metrics cannot fail, so this only keeps a scrape alive.
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       10 * time.Second,
	}))
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "tcptop",
		Description: "TCP states, accept queues, ephemeral ports and findings, from the kernel's sock_diag and /proc",
		Version:     e.cfg.Version,
		Profiling:   "false",
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics", Description: "the latest poll, in the Prometheus or OpenMetrics text format"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/", landing)
	return mux, nil
}

// Serve answers h on l until ctx ends (then it shuts down, letting
// requests in flight finish for up to 5 s, and returns nil) or the server
// fails. webConfig is an exporter-toolkit web configuration file
// ("" for plain HTTP, no auth); check it first with ValidateWebConfig.
func Serve(ctx context.Context, l net.Listener, h http.Handler, webConfig string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		// net/http's own complaints (a TLS handshake that failed, ...)
		// go through the same logger.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() {
		done <- web.Serve(l, srv, &web.FlagConfig{WebConfigFile: &webConfig}, logger)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
