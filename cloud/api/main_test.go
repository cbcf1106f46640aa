package api

import (
	"golang.org/x/crypto/bcrypt"

	"github.com/shouwang-care/shouwang/cloud/credential"
)

// Passwords are hashed at the cheapest cost here: the tests are about who may do
// what, and the default cost under -race takes seconds per login.
func init() { credential.BcryptCost = bcrypt.MinCost }
