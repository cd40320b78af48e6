module github.com/example/acme/api

go 1.23
