// Command shouwang-cloud ingests alerts and telemetry from gateways, dispatches
// alerts to grid workers and serves the web app.
//
//	shouwang-cloud [--config FILE] [--demo]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/service"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shouwang-cloud:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("shouwang-cloud", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("SHOUWANG_CLOUD_CONFIG"), "config file (YAML); empty runs everything embedded")
	demo := fs.Bool("demo", false, "seed a demo grid, worker, home and gateway, and write the simulated edge's config")
	dataDir := fs.String("data-dir", "", "override data_dir")
	httpAddr := fs.String("http", "", "override http_addr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	cfg.Demo.Enabled = cfg.Demo.Enabled || *demo
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := service.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Printf("\n  守望 Shouwang is running: %s\n", s.URL())
	if s.AdminPassword != "" {
		fmt.Printf("  One-time admin login (shown only now, change it after logging in):\n    username: admin\n    password: %s\n", s.AdminPassword)
	}
	if s.DemoEdgeConfig != "" {
		fmt.Printf("  Simulated edge config: %s\n", s.DemoEdgeConfig)
	}
	fmt.Println()
	return s.Run(ctx)
}
