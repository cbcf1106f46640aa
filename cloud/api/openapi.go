package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// spec is the committed OpenAPI document; a test keeps it and the routes in step.
//
//go:embed openapi.yaml
var spec []byte

func serveSpec(c *fiber.Ctx) error {
	c.Set("Content-Type", "application/yaml")
	return c.Send(spec)
}
