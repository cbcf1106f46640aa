// Command shouwang-edge is the gateway daemon that watches one home.
//
//	shouwang-edge [--config FILE] [--simulate] [--speed N]   run the daemon
//	shouwang-edge decode dlt645|cjt188 HEX…                 decode meter frames
//	shouwang-edge claim --cloud URL --code CODE [--config FILE]  bind to a home (installer)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/edge/daemon"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 {
		if sub, ok := subcommands[os.Args[1]]; ok {
			if err := sub(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "shouwang-edge:", err)
				os.Exit(1)
			}
			return
		}
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shouwang-edge:", err)
		os.Exit(1)
	}
}

// subcommands other than running the daemon; more register themselves in their files.
var subcommands = map[string]func(args []string) error{}

func run(args []string) error {
	fs := flag.NewFlagSet("shouwang-edge", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("SHOUWANG_EDGE_CONFIG"), "config file (YAML)")
	simulate := fs.Bool("simulate", false, "run a simulated home instead of real meters and sensors")
	speed := fs.Float64("speed", 0, "simulation speed: virtual seconds per real second (default from config, 3600)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if *simulate || *speed > 0 {
		// Flags override the file; validate again with them applied.
		cfg.Simulate.Enabled = cfg.Simulate.Enabled || *simulate
		if *speed > 0 {
			cfg.Simulate.Speed = *speed
		}
		if err == nil {
			err = cfg.Validate()
		}
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	daemon.Version = version

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d, err := daemon.New(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return d.Run(ctx, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
