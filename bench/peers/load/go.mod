module cattery.bench/peers/load

go 1.19
