package api

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// The family tests run on PostgreSQL too (a server shared by the test binary).
func TestMain(m *testing.M) { testinfra.Main(m) }

// Passwords are hashed at the cheapest cost here: the tests are about who may do
// what, and the default cost under -race takes seconds per login.
func init() { credential.BcryptCost = bcrypt.MinCost }
