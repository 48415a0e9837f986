module mtls-reference/recipes/go

go 1.22
