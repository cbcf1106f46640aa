// Command shouwang-cloud ingests alerts and telemetry from gateways, dispatches
// alerts to grid workers and serves the web app.
//
//	shouwang-cloud [--config FILE] [--demo]
//	shouwang-cloud vapid-keys    # a Web Push key pair for notify.web_push
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	webpush "github.com/SherClockHolmes/webpush-go"

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
	if len(args) > 0 && args[0] == "vapid-keys" {
		priv, pub, err := webpush.GenerateVAPIDKeys()
		if err != nil {
			return fmt.Errorf("vapid-keys: %w", err)
		}
		// Keep the pair: a new one invalidates every browser's subscription.
		fmt.Printf("notify:\n  web_push:\n    subscriber: \"mailto:ops@your-domain\"\n    vapid_public_key: %q\n    vapid_private_key: %q\n", pub, priv)
		return nil
	}
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
